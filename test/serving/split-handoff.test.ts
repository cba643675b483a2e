// Split turns whose trace travels node to node, on real node processes (one full node from
// the model file, sparse nodes from a shard folder), driven by the Session object's own
// routing code (workers/session/split-turn.ts). The faults are real: a sparse node that keeps
// no handoff (--handoff-ttl-s 0: as after a restart between trace and turn) answers 409
// handoff_not_found, and a sparse node that is down cannot take the push. Both fall back
// (trace again, inline) and the conversation's greedy tokens stay exactly the same.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startNode, type NodeProcess } from "../../cli/stack.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { fromBase64 } from "../../shared/serving/base64.ts";
import type { NodeEvent, NodeTurnRequest, TurnDone, TurnStart } from "../../shared/serving/protocol.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { stateVersion } from "../../shared/serving/state-version.ts";
import { routeTurn, type SplitEnv } from "../../workers/session/split-turn.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { servingShardSet, type TempShardSet } from "../weights/shard-set.ts";
import { parsePrometheus } from "../helpers/prometheus.ts";

const TOKEN = randomBytes(16).toString("hex");
const METRICS = randomBytes(16).toString("hex");
const opts = { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" };
let shardSet: TempShardSet | undefined;
let full: NodeProcess, sparse: NodeProcess, forgetful: NodeProcess;

beforeAll(async () => {
  shardSet = await servingShardSet();
  const shards = shardSet.dir;
  [full, sparse, forgetful] = await Promise.all([
    startNode("full", opts, () => {}, TOKEN, 0, METRICS),
    startNode("sparse", opts, () => {}, TOKEN, 0, METRICS, shards, "sparse"),
    startNode("forgetful", { ...opts, nodeArgs: ["--handoff-ttl-s", "0"] }, () => {}, TOKEN, 0, METRICS, shards, "sparse"),
  ]);
}, 180_000);
afterAll(async () => {
  await Promise.all([full, sparse, forgetful].map((n) => n?.stop()));
  shardSet?.remove();
});

type Stats = { states: { hits: number; misses: number }; handoffs: { received: number; taken: number; missing: number } };
const stats = async (n: NodeProcess) => (await (await fetch(`${n.url}/stats`, { headers: { authorization: `Bearer ${METRICS}` } })).json()) as Stats;
const scrape = async (n: NodeProcess) => parsePrometheus(await (await fetch(`${n.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text());
const PROMPTS = ["Once upon a time there was a little cat", "The president said that the economy of the nation", "Lily went to the park with her dog"];

/** A conversation as the Session object runs it: the stored state by version, the state itself on request. */
async function converse(sparseNodes: string[], objectId: string, afterTurn?: (turn: number, sessionKey: string) => Promise<void>) {
  const env = { NODES: full.url, SPARSE_NODES: sparseNodes.join(","), NODE_TOKEN: TOKEN, PREFILL_MODE: "kv" } satisfies SplitEnv;
  const sessionKey = await signSessionKey(objectId, TOKEN);
  let state: Uint8Array | null = null;
  let version: string | null = null;
  const context: number[][] = [];
  const turns = [];
  for (const text of PROMPTS) {
    const req: NodeTurnRequest = { sessionKey, tenant: "t", context: context.slice(), segments: [{ text }], maxTokens: 16, temperature: 0, topP: 1, seed: 1, dart: { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: 0.5 }, prunerState: "" };
    const routed = await routeTurn(env, req, 30_000, () => Promise.reject(new Error("not a split turn")), () => state, version);
    if (routed instanceof Response) throw new Error(`refused: ${await routed.text()}`);
    expect(routed.opened.response.status).toBe(200);
    const events = (await routed.opened.response.text()).trim().split("\n").map((l) => JSON.parse(l) as NodeEvent);
    const start = events.find((e): e is TurnStart => e.type === "start")!;
    const done = events.find((e): e is TurnDone => e.type === "done")!;
    expect(done, JSON.stringify(events.at(-1))).toBeDefined();
    context.push(...start.segmentIds, done.completionIds);
    state = fromBase64(done.pruner.state);
    version = await stateVersion(state);
    await afterTurn?.(turns.length + 1, sessionKey);
    turns.push({ ids: done.completionIds, node: start.node, prefill: start.prefill, transfer: routed.transfer, pushedBack: done.nodeToNodeBytes ?? 0, tracedBy: routed.trace?.node, stateBytes: state.byteLength });
  }
  return turns;
}

describe("split turns with the trace handed off node to node", () => {
  let want: Awaited<ReturnType<typeof converse>>;

  it("steady state: no state to the full node after the first turn, the state read once, the bulk node to node", async () => {
    const before = { full: await stats(full), sparse: await stats(sparse) };
    want = await converse([sparse.url], "steady");
    for (const t of want) expect(t).toMatchObject({ node: "sparse", prefill: "kv", tracedBy: "full" });
    for (const t of want.slice(1)) {
      const b64 = (t.stateBytes * 4) / 3;
      expect(t.transfer.stateSent).toBe(false);
      expect(t.transfer.sentBytes).toBeLessThan(b64);
      expect(t.transfer.receivedBytes).toBeLessThan(2 * b64); // the done event's state, not the trace's too
      expect(t.transfer.nodeToNodeBytes).toBeGreaterThan(b64); // the handoff: traced state, prior, KV
      expect(t.pushedBack).toBeGreaterThan(b64); // the final state, to the full node's soft cache
    }
    const after = { full: await stats(full), sparse: await stats(sparse) };
    expect(after.full.states.hits - before.full.states.hits).toBe(PROMPTS.length - 1);
    expect(after.full.states.misses).toBe(before.full.states.misses);
    expect(after.sparse.handoffs.taken - before.sparse.handoffs.taken).toBe(PROMPTS.length);
    // The same bytes in each node's metrics: the full node pushed the handoffs, the sparse node the states.
    const fullMetrics = await scrape(full), sparseMetrics = await scrape(sparse);
    expect(fullMetrics.get('dart_node_pushed_bytes_total{kind="handoff"}')).toBe(want.reduce((n, t) => n + t.transfer.nodeToNodeBytes!, 0));
    expect(sparseMetrics.get('dart_node_pushed_bytes_total{kind="state"}')).toBe(want.reduce((n, t) => n + t.pushedBack, 0));
    expect(sparseMetrics.get('dart_node_handoffs_total{result="taken"}')).toBe(PROMPTS.length);
    expect(sparseMetrics.get('dart_node_handoffs_total{result="missing"}')).toBe(0);
  });

  it("a sparse node that lost the handoff answers 409; the turn is traced again inline, with the same tokens", async () => {
    const before = await stats(forgetful);
    const got = await converse([forgetful.url], "forgetful");
    expect(got.map((t) => t.ids)).toEqual(want.map((t) => t.ids));
    const after = await stats(forgetful);
    expect(after.handoffs.received - before.handoffs.received).toBe(PROMPTS.length);
    expect(after.handoffs.missing - before.handoffs.missing).toBe(PROMPTS.length);
    for (const t of got) expect(t.transfer.stateSent).toBe(true); // the traced state came inline
    // Its final states still reached the full node: turns 2 and 3 sent no state to the trace.
    for (const t of got.slice(1)) expect(t.pushedBack).toBeGreaterThan(0);
  });

  it("a full node that lost the state (as after a restart) answers the trace 409; the state is resent, the same tokens", async () => {
    const before = await stats(full);
    const forget = async (turn: number, key: string) => {
      if (turn !== 1) return;
      const r = await fetch(`${full.url}/v1/sessions/${encodeURIComponent(key)}`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
      expect(r.status).toBe(200);
    };
    const got = await converse([sparse.url], "forgotten", forget);
    expect(got.map((t) => t.ids)).toEqual(want.map((t) => t.ids));
    expect(got.map((t) => t.transfer.stateSent)).toEqual([false, true, false]); // nothing yet; resent after the 409; found again
    expect(got[1]!.transfer.sentBytes).toBeGreaterThan((got[0]!.stateBytes * 4) / 3);
    const after = await stats(full);
    expect(after.states.misses - before.states.misses).toBe(1);
    expect(after.states.hits - before.states.hits).toBe(1);
  });

  it("the node-to-node endpoints take the node token and a signed session key only", async () => {
    const key = await signSessionKey("pushed", TOKEN);
    const post = (path: string, body: unknown, auth = `Bearer ${TOKEN}`) =>
      fetch(`${sparse.url}${path}`, { method: "POST", headers: { authorization: auth, "content-type": "application/json" }, body: JSON.stringify(body) });
    const h = { sessionKey: key, id: "a".repeat(32), state: "AAAA", prior: null, kv: null };
    expect((await post("/v1/handoff", h, "Bearer wrong")).status).toBe(401);
    expect((await post("/v1/states", { sessionKey: key, state: "AAAA" }, "")).status).toBe(401);
    expect((await post("/v1/handoff", { ...h, sessionKey: "pushed.00" })).status).toBe(403); // not signed: cannot name a session
    expect((await post("/v1/states", { sessionKey: "pushed", state: "AAAA" })).status).toBe(403);
    const bad = await post("/v1/handoff", { ...h, id: "x" });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { code: "invalid_handoff", param: "id" } });
    expect((await post("/v1/handoff", h)).status).toBe(200);
  });

  it("a chosen sparse node that is down gets no handoff: the trace answers inline, the next sparse node decodes, the same tokens", async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    // A session whose first-ranked sparse node is the dead one.
    let id = 0;
    while (rankNodes([dead, sparse.url], await signSessionKey(`down-${id}`, TOKEN))[0] !== dead) id++;
    const got = await converse([dead, sparse.url], `down-${id}`);
    expect(got.map((t) => t.ids)).toEqual(want.map((t) => t.ids));
    for (const t of got) {
      expect(t.node).toBe("sparse");
      expect(t.transfer.nodeToNodeBytes).toBe(0); // no handoff went out
      expect(t.transfer.stateSent).toBe(true);
    }
  });
});
