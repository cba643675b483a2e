// Runs in Node before the workerd tests: one real inference node on the real model, whose
// URL becomes the Worker's NODES binding (see vitest.config.ts).
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import type { TestProject } from "vitest/node";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { dataPath } from "../helpers/model-dir.ts";

declare module "vitest" {
  export interface ProvidedContext {
    nodeUrl: string;
    /** Also declared for the workerd side in env.d.ts. */
    v1State: { base64: string; facts: string };
  }
}

let node: NodeProcess | undefined;

export default async function setup(project: TestProject) {
  // The node's output goes to a git-ignored log, so a failed turn in a workerd test can be read back.
  const log = resolve(import.meta.dirname, "../../.cache/workers-test-node.log");
  mkdirSync(resolve(log, ".."), { recursive: true });
  writeFileSync(log, "");
  node = await startNode("workers-test-node", { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" }, (line) => appendFileSync(log, line + "\n"));
  project.provide("nodeUrl", node.url);
  const fixture = resolve(import.meta.dirname, "../fixtures/dart-state-v1/dart-masked");
  project.provide("v1State", { base64: readFileSync(`${fixture}.bin`).toString("base64"), facts: readFileSync(`${fixture}.json`, "utf8") });
  return async () => {
    await node?.stop();
  };
}
