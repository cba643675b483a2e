// A client that gives up on a non-streamed request stops its turn at the node
// (gateway/cancel-on-disconnect.ts). Real parts: the bundled gateway and Session objects in
// workerd (Miniflare, test/serving/miniflare-gateway.ts), a real node on the real model, and the
// official openai client aborting with an AbortController. The client runs in a Worker
// (abort-client-worker.ts): workerd notices a cancelled caller there, while neither a Node
// client's closed socket (workerd's HTTP/1.1 server does not watch it while a response is
// pending) nor `wrangler dev` (its ProxyWorker detaches the forwarded fetch) ever cancels
// the gateway's request locally.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Miniflare } from "miniflare";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { apiKeyHashes } from "../../cli/stack-secrets.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { nodeTurns, type NodeTurnStats } from "./stack-fixture.ts";
import { startMiniflareGateway } from "./miniflare-gateway.ts";

const API_KEY = "sk-test-" + Math.random().toString(36).slice(2);
const NODE_TOKEN = "node-" + Math.random().toString(36).slice(2);
const METRICS_TOKEN = "metrics-" + Math.random().toString(36).slice(2);
const MODEL = "stories260K";
const MAX_TOKENS = 400; // 8 s at 20 ms a token: the abort comes long before

const out = mkdtempSync(join(tmpdir(), "dart-abort-"));
const logs: string[] = [];
let node: NodeProcess | undefined;
let mf: Miniflare | undefined;

beforeAll(async () => {
  const modelPath = dataPath("stories260K.bin");
  node = await startNode("node-1", { modelPath, apiKeys: [], persistDir: out, tokenDelayMs: 20 }, (l) => logs.push(l), NODE_TOKEN, 0, METRICS_TOKEN);
  mf = await startMiniflareGateway(
    out,
    { MODEL_ID: MODEL, NODES: node.url, NODE_TOKEN, METRICS_TOKEN, API_KEY_HASHES: await apiKeyHashes([API_KEY]) },
    join(import.meta.dirname, "abort-client-worker.ts"),
  );
}, 180_000);

afterAll(async () => {
  await mf?.dispose();
  await node?.stop();
  rmSync(out, { recursive: true, force: true });
});

it("stops generating at the node when the client aborts a non-streamed request, and keeps the session unchanged", async () => {
  const startedAt = Date.now();
  const client = await mf!.getWorker("client");
  const r = await client.fetch("http://client/", { method: "POST", body: JSON.stringify({ apiKey: API_KEY, model: MODEL, maxTokens: MAX_TOKENS }) });
  const { session, busy, outcome } = (await r.json()) as { session: string; busy: boolean; outcome: string };
  expect(busy, "the session never became busy with the long turn").toBe(true);
  expect(outcome).not.toBe("completed");

  // The node records the opening turn, then the long one: wait for the long one to end however it ends.
  let turns: NodeTurnStats[] = [];
  for (let t = 0; t < 150 && turns.length < 2; t++) {
    await new Promise((res) => setTimeout(res, 100));
    turns = (await nodeTurns(node!.url, METRICS_TOKEN)).filter((x) => x.at >= startedAt).sort((a, b) => a.at - b.at);
  }
  expect(turns.length, logs.slice(-20).join("\n")).toBe(2);
  expect(turns[1]!.stopReason).toBe("abort");
  expect(turns[1]!.completionTokens).toBeLessThan(MAX_TOKENS / 2);

  const gateway = await mf!.getWorker("gateway");
  const view = await gateway.fetch(`http://gateway/v1/sessions/${session}`, { headers: { authorization: `Bearer ${API_KEY}` } });
  expect(view.status).toBe(200);
  expect(((await view.json()) as { turns: number }).turns).toBe(1);
}, 120_000);
