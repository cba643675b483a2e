// Readiness as the gateway's /readyz sees nodes (workers/session/node-client.ts probeNodes):
// a real inference node is ready only with this deployment's node token (a node of another
// stack, as after a stale gateway, is not), and a port nobody serves is not ready.
import { afterAll, beforeAll, expect, it } from "vitest";
import { freePort } from "../../cli/ports.ts";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { probeNodes } from "../../workers/session/node-client.ts";
import { dataPath } from "../helpers/model-dir.ts";

const token = "node-token-" + Math.random().toString(36).slice(2);
let node: NodeProcess;
beforeAll(async () => {
  node = await startNode("readiness-node", { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" }, () => {}, token);
}, 120_000);
afterAll(() => node?.stop());

it("a loaded node with the right token is ready", async () => {
  expect(await probeNodes([node.url], token)).toEqual({ ready: 1, total: 1 });
});

it("a node that holds another token, or no node at all, is not ready", async () => {
  const nobody = `http://127.0.0.1:${await freePort()}`;
  expect(await probeNodes([node.url], "another-stack's-token")).toEqual({ ready: 0, total: 1 });
  expect(await probeNodes([nobody], token)).toEqual({ ready: 0, total: 1 });
  expect(await probeNodes([nobody, node.url], token)).toEqual({ ready: 1, total: 2 });
});
