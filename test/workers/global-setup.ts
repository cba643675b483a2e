// Runs in Node before the workerd tests: one real inference node on the real model, whose
// URL becomes the Worker's NODES binding (see vitest.config.ts).
import type { TestProject } from "vitest/node";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { dataPath } from "../helpers/model-dir.ts";

declare module "vitest" {
  export interface ProvidedContext {
    nodeUrl: string;
  }
}

let node: NodeProcess | undefined;

export default async function setup(project: TestProject) {
  node = await startNode("workers-test-node", { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" }, () => {});
  project.provide("nodeUrl", node.url);
  return async () => {
    await node?.stop();
  };
}
