// The stack int8 on real node processes: a full node from the model file quantizing at load
// (--quant q8_0) traces, a sparse node on a q8_0 shard folder (dart shard --dtype q8_0)
// decodes, driven by the Session object's own routing code. The split turn answers with the
// greedy tokens of the in-process Q8_0 engine (one full node, same masks), the sparse node
// moves 204 bytes per neuron (768 in f32), and both nodes say they hold Q8_0.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { shardModelToFolder } from "../../cli/weights-seed.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import type { NodeEvent, NodeTurnRequest, TurnDone, TurnStart } from "../../shared/serving/protocol.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { runTurn } from "../../workers/node/run-turn.ts";
import { installKv, packKv } from "../../workers/node/kv-handoff.ts";
import { routeTurn, type SplitEnv } from "../../workers/session/split-turn.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";

const TOKEN = randomBytes(16).toString("hex");
const opts = { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "", quant: "q8_0" as const };
let dir: string;
let full: NodeProcess, sparse: NodeProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "dart-q8-nodes-"));
  await shardModelToFolder(dataPath("stories260K.bin"), dir, { neuronsPerShard: 1, dtype: "q8_0" });
  [full, sparse] = await Promise.all([
    startNode("full", opts, () => {}, TOKEN),
    // No --quant: a q8_0 set is served as Q8_0 by default.
    startNode("sparse", { ...opts, quant: undefined }, () => {}, TOKEN, 0, "", dir, "sparse"),
  ]);
}, 180_000);
afterAll(async () => {
  await Promise.all([full, sparse].map((n) => n?.stop()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const get = async (n: NodeProcess, path: string) => (await fetch(`${n.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<Record<string, any>>;
const TEXT = "Once upon a time there was a little cat";
const request = (sessionKey: string): NodeTurnRequest => ({
  sessionKey, tenant: "t", context: [], segments: [{ text: TEXT }], maxTokens: 24, temperature: 0, topP: 1, seed: 1,
  dart: { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: 0.5 }, prunerState: "",
});

describe("int8 nodes", () => {
  it("say they hold Q8_0: /healthz model.weightFormat, /stats ffn.format and the store's dtype", async () => {
    const [fh, sh, fs, ss] = await Promise.all([get(full, "/healthz"), get(sparse, "/healthz"), get(full, "/stats"), get(sparse, "/stats")]);
    expect(fh.model.weightFormat).toBe("q8_0");
    expect(sh.model.weightFormat).toBe("q8_0");
    expect(fs.ffn).toMatchObject({ format: "q8_0", total: 5 * 172 * (3 * 64 + 6 * 4) }); // int8s + f32 scales in memory
    expect(fs.weights).toBeNull(); // from the model file
    expect(ss.ffn.format).toBe("q8_0");
    expect(ss.weights).toMatchObject({ dtype: "q8_0", ffnShards: 860, ffnBytes: 860 * 204 });
  });

  it("a split turn (full node traces, sparse node decodes from q8_0 shards) gives the in-process Q8_0 engine's greedy tokens", async () => {
    const env = { NODES: full.url, SPARSE_NODES: sparse.url, NODE_TOKEN: TOKEN, PREFILL_MODE: "kv" } satisfies SplitEnv;
    const req = request(await signSessionKey("q8-split", TOKEN));
    const routed = await routeTurn(env, structuredClone(req), 60_000, () => Promise.reject(new Error("not a split turn")), () => null);
    if (routed instanceof Response) throw new Error(`refused: ${await routed.text()}`);
    const events = (await routed.opened.response.text()).trim().split("\n").map((l) => JSON.parse(l) as NodeEvent);
    const start = events.find((e): e is TurnStart => e.type === "start")!;
    const done = events.find((e): e is TurnDone => e.type === "done")!;
    expect(done, JSON.stringify(events.at(-1))).toBeDefined();
    expect(start.node).toBe("sparse");

    const { model, tok } = stories();
    const tf = new Transformer(model, { weights: "q8_0" });
    setTokenizer(tf, tok);
    const local: NodeEvent[] = [];
    runTurn({ name: "local", tf, tok, cache: new KvCache(64 << 20) }, req, (e) => local.push(e), () => false);
    const want = local.find((e): e is TurnDone => e.type === "done")!;
    expect(done.completionIds).toEqual(want.completionIds);
    expect(done.completionIds.length).toBeGreaterThan(4);
    // ...and not the fp32 engine's: the nodes really ran int8.
    const f32: NodeEvent[] = [];
    const fileTf = stories().tf;
    setTokenizer(fileTf, tok);
    runTurn({ name: "f32", tf: fileTf, tok, cache: new KvCache(64 << 20) }, req, (e) => f32.push(e), () => false);
    const f32Done = f32.find((e): e is TurnDone => e.type === "done")!;
    expect(f32Done.pruner.state).not.toBe(want.pruner.state);

    // The sparse node fetched its masks' q8_0 shards: 204 bytes each, counted by the store.
    const stats = await get(sparse, "/stats");
    const w = stats.turns.at(-1).weights;
    expect(w.shardsFetched).toBeGreaterThanOrEqual(5 * 86);
    expect(w.bytesFetched).toBe(w.shardsFetched * 204);
    expect(stats.ffn.resident).toBe(stats.weights.store.residentShards * (3 * 64 + 6 * 4));
  });

  it("KV entries an fp32 engine computed are never installed into a Q8_0 engine's cache (it prefills itself), nor the reverse", () => {
    const { model, tok, tf: f32 } = stories();
    const q8 = new Transformer(model, { weights: "q8_0" });
    const ids = tok.encode("Once upon a time", { bos: true });
    const handoff = (tf: Transformer) => {
      const s = tf.newState();
      let logits = new Float32Array(0) as Float32Array;
      ids.forEach((t, pos) => (logits = tf.forward(s, t, pos)));
      return packKv(tf, s, ids, 0, logits);
    };
    const [fromF32, fromQ8] = [handoff(f32), handoff(q8)];
    expect([fromF32.weightFormat, fromQ8.weightFormat]).toEqual(["f32", "q8_0"]);
    expect(installKv(q8, q8.newState(), ids, fromF32, 0)).toBeNull();
    expect(installKv(f32, f32.newState(), ids, fromQ8, 0)).toBeNull();
    expect(installKv(q8, q8.newState(), ids, fromQ8, 0)).not.toBeNull();
    expect(installKv(f32, f32.newState(), ids, { ...fromF32, weightFormat: undefined }, 0)).not.toBeNull(); // an older node's handoff is fp32
  });
});
