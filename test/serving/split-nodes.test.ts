// Tracing split from decoding, in-process on the real model and a real shard set: a full
// node traces (dense prefill, DART statistics, masks, prior masks, KV of the traced tokens),
// a sparse node that holds base weights and mask shards only decodes. With the KV handoff
// the pair answers exactly as a single full node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_DART_SETTINGS, type DartSettings } from "../../shared/dart/index.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import type { NodeEvent, NodeTraceResult, NodeTurnRequest, PrefillMode, TurnDone, TurnError, TurnStart } from "../../shared/serving/protocol.ts";
import { openModelFromStore } from "../../shared/weights/open-model.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { runTurn, type NodeEngine } from "../../workers/node/run-turn.ts";
import { SparseFfn } from "../../workers/node/sparse-ffn.ts";
import { runTrace } from "../../workers/node/trace.ts";
import { stories } from "../helpers/model-dir.ts";
import { servingShardSet, STORIES_FFN_BYTES, type TempShardSet } from "../weights/shard-set.ts";
import { decodePlan } from "../../shared/serving/tensor-b64.ts";

const file = stories();
setTokenizer(file.tf, file.tok);
const FFN_BYTES = STORIES_FFN_BYTES;
let set: TempShardSet;

beforeAll(async () => {
  set = await servingShardSet();
});
afterAll(() => set?.remove());

const fullNode = (name = "full"): NodeEngine => ({ name, tf: file.tf, tok: file.tok, cache: new KvCache(64 << 20) });

async function sparseNode(budgetBytes?: number) {
  const m = await openModelFromStore(set.folder, { budgetBytes, denseFfn: false });
  const sparse = new SparseFfn(m.store, m.transformer);
  const engine: NodeEngine = { name: "sparse", tf: m.transformer, tok: m.tokenizer!, cache: new KvCache(64 << 20), role: "sparse" };
  return { ...m, sparse, engine };
}
type Sparse = Awaited<ReturnType<typeof sparseNode>>;

const PROMPTS = ["Once upon a time there was a little cat", "The president said that the economy of the nation", "Lily went to the park with her dog", "We the people of the United States"];

function request(text: string, dart: DartSettings, prunerState: string, context: number[][]): NodeTurnRequest {
  return { sessionKey: "s", context, segments: [{ text }], maxTokens: 40, temperature: 0, topP: 1, seed: 1, dart, prunerState };
}

function outcome(events: NodeEvent[]) {
  const err = events.find((e): e is TurnError => e.type === "error");
  if (err) return { err };
  const done = events.find((e): e is TurnDone => e.type === "done");
  expect(done, "turn finished").toBeDefined();
  return { start: events.find((e): e is TurnStart => e.type === "start")!, done: done! };
}

/** One turn on a sparse node, as the engine thread runs it: shards first, then the turn, then the trim. */
async function sparseTurn(s: Sparse, req: NodeTurnRequest) {
  s.engine.prunerOptions = await s.sparse.prepare(req);
  const events: NodeEvent[] = [];
  const record = runTurn(s.engine, req, (e) => events.push(e), () => false, s.sparse.fetchedSincePrepare());
  const weights = s.sparse.finish();
  return { ...outcome(events), record, weights };
}

/** A conversation split between a full node (trace) and a sparse node (decode). */
async function splitConversation(full: NodeEngine, s: Sparse, dart: DartSettings, mode: PrefillMode, prompts = PROMPTS) {
  let state = "";
  const context: number[][] = [];
  const turns = [];
  for (const p of prompts) {
    const base = request(p, dart, state, context);
    const kvFrom = 1 + context.flat().length;
    const trace = runTrace(full, { ...base, kvFrom: mode === "kv" ? kvFrom : null }) as NodeTraceResult;
    expect(trace.type, JSON.stringify(trace)).toBe("trace");
    const t = await sparseTurn(s, { ...base, prunerState: trace.state, trace: { node: full.name, prior: trace.prior, kv: trace.kv } });
    expect(t.err).toBeUndefined();
    context.push(...t.start!.segmentIds, t.done!.completionIds);
    state = t.done!.pruner.state;
    turns.push({ trace, ...t });
  }
  return turns;
}

function singleConversation(engine: NodeEngine, dart: DartSettings, prompts = PROMPTS) {
  let state = "";
  const context: number[][] = [];
  return prompts.map((p) => {
    const events: NodeEvent[] = [];
    runTurn(engine, request(p, dart, state, context), (e) => events.push(e), () => false);
    const { start, done } = outcome(events);
    context.push(...start!.segmentIds, done!.completionIds);
    state = done!.pruner.state;
    return done!;
  });
}

describe("a sparse node", () => {
  it("holds no dense FFN in any form, and fetches only its masks' shards and the prior's", async () => {
    const s = await sparseNode();
    for (const l of s.transformer.weights.layers) expect("wGate" in l || "wUp" in l || "wDown" in l).toBe(false);
    for (const b of s.transformer.ffn) expect([b.capacity, b.resident]).toEqual([0, 0]);
    expect(s.store.stats().residentBytes).toBe(0);
    const [t] = await splitConversation(fullNode(), s, DEFAULT_DART_SETTINGS, "kv", PROMPTS.slice(0, 1));
    // Masks at sparsity 0.5 keep 86 of 172 neurons per layer; the prior's masks overlap them.
    const kept = t!.trace.masks.reduce((a, m) => a + m.kept, 0);
    expect(kept).toBe(5 * 86);
    expect(t!.weights.shardsFetched).toBeGreaterThanOrEqual(kept);
    expect(t!.weights.shardsFetched).toBeLessThan(860);
    expect(t!.weights.bytesFetched).toBe(t!.weights.shardsFetched * 768);
    expect(t!.start!.bytesFetched).toBe(t!.weights.bytesFetched);
    expect(s.store.stats().residentBytes).toBeLessThan(FFN_BYTES);
    // The compacted copies left with the turn: between turns only shards are held.
    expect(t!.record.ffnTokens).toBeGreaterThan(0);
    expect(t!.record.ffnDenseTokens).toBe(0);
  });

  it.each(["dart", "griffin", "static"] as const)("with the KV handoff, a %s conversation answers exactly as a single full node on its first turn, and close after", async (method) => {
    const dart = { ...DEFAULT_DART_SETTINGS, method };
    const want = singleConversation(fullNode(), dart);
    const got = await splitConversation(fullNode(), await sparseNode(), dart, "kv");
    expect(got[0]!.start!.prefill).toBe("kv");
    expect(got[0]!.done!.completionIds).toEqual(want[0]!.completionIds);
    expect(got[0]!.done!.pruner.state).toBe(want[0]!.pruner.state);
    expect(got[0]!.done!.pruner.stats).toEqual(want[0]!.pruner.stats);
    // Later turns: the full node prefilled the earlier completions densely where a single node
    // decoded them masked, so their KV (and the traced statistics) may differ in the last bits.
    for (const [i, t] of got.entries()) expect(t.done!.completion.length, `turn ${i}`).toBeGreaterThan(0);
    // dart's drift re-masks ran on the sparse node, from the prior masks the full node sent.
    if (method === "dart") expect(got.reduce((n, t) => n + t.record.remasks, 0)).toBeGreaterThan(0);
  });

  it("with masked re-prefill, no KV moves and the sparse node prefills with the traced masks", async () => {
    const got = await splitConversation(fullNode(), await sparseNode(), DEFAULT_DART_SETTINGS, "masked");
    for (const t of got) {
      expect(t.trace.kv).toBeNull();
      expect(t.start!.prefill).toBe("masked");
      expect(t.done!.completionIds.length).toBeGreaterThan(0);
    }
  });

  it("refuses dart-paper and dense (they need the dense FFN mid-turn) with a clear error", async () => {
    const s = await sparseNode();
    for (const method of ["dart-paper", "dense"] as const) {
      const t = await sparseTurn(s, request("Once upon a time", { ...DEFAULT_DART_SETTINGS, method }, "", []));
      expect(t.err).toMatchObject({ status: 400, code: "method_needs_full_node", param: "dart.method" });
    }
  });

  it("without a trace it continues the masks in force, or the prior's, and without either refuses", async () => {
    const s = await sparseNode();
    const none = await sparseTurn(s, request("Once upon a time", DEFAULT_DART_SETTINGS, "", []));
    expect(none.err).toMatchObject({ status: 503, code: "no_masks" });
    const [first] = await splitConversation(fullNode(), s, DEFAULT_DART_SETTINGS, "kv", PROMPTS.slice(0, 1));
    // Next turn, no full node: the traced masks continue, nothing is traced or fetched.
    const context = [...first!.start!.segmentIds, first!.done!.completionIds];
    const cont = await sparseTurn(s, request(PROMPTS[1]!, DEFAULT_DART_SETTINGS, first!.done!.pruner.state, context));
    expect(cont.err).toBeUndefined();
    expect(cont.weights.bytesFetched).toBe(0);
    expect(cont.done!.pruner.masks).toEqual(first!.done!.pruner.masks);
    // Another session's first turn, no full node: the prior masks this node holds already.
    const fresh = await sparseTurn(s, { ...request(PROMPTS[2]!, DEFAULT_DART_SETTINGS, "", []), sessionKey: "other" });
    expect(fresh.err).toBeUndefined();
    expect(fresh.done!.pruner.events.some((e) => e.kind === "mask" && !e.remask)).toBe(true);
    expect(fresh.weights.bytesFetched).toBe(0);
  });
});

describe("a sparse node's FFN residency", () => {
  /** Resident neurons of each layer, read from the engine's bundles. */
  const residentNeurons = (s: Sparse) => s.transformer.ffn.map((b) => Array.from({ length: b.hiddenDim }, (_, j) => j).filter((j) => b.has(j)));

  it("holds exactly the union of the masks in force and the prior's, once, in the engine's bundles: no shard bytes, no copies", async () => {
    const s = await sparseNode(0); // budget 0: after each turn only what the masks in force and the prior keep stays
    const turns = await splitConversation(fullNode(), s, DEFAULT_DART_SETTINGS, "kv", PROMPTS.slice(0, 2));
    const last = turns.at(-1)!;
    const entry = s.engine.cache.peek("s")!;
    const prior = decodePlan(last.trace.prior!, 5, 172, 64);
    const want = entry.state.ffn.map((f, l) => {
      // Every mask the turn ran is an index list over the engine's own bundles, never a copy.
      expect(f!.bundles).toBe(s.transformer.ffn[l]);
      return [...new Set([...f!.kept, ...prior.kept[l]!])].sort((a, b) => a - b);
    });
    expect(residentNeurons(s)).toEqual(want);
    const union = want.reduce((n, k) => n + k.length, 0);
    expect(last.weights.residentBytes).toBe(union * 768);
    expect(s.sparse.residentBytes).toBe(union * 768);
    expect(union).toBeLessThan(860);
    // The store tracks the same shards (neuronsPerShard 1) and keeps none of their bytes.
    expect(s.store.stats().residentShards).toBe(union);
    for (const [layer, kept] of want.entries()) for (const j of kept) expect(s.store.residentShard({ layer, index: s.store.shardOf(layer, j) })).toBeNull();
  });

  it("a second session with the same settings shares the prior's neurons: resident once, not once per session", async () => {
    const s = await sparseNode();
    const [a] = await splitConversation(fullNode(), s, DEFAULT_DART_SETTINGS, "kv", PROMPTS.slice(0, 1));
    const afterOne = residentNeurons(s).map((k) => k.length);
    // Session two: another topic, its own masks; only neurons outside the first session's masks and the prior are fetched.
    const trace = runTrace(fullNode("full2"), { ...request(PROMPTS[3]!, DEFAULT_DART_SETTINGS, "", []), sessionKey: "t", kvFrom: 1 }) as NodeTraceResult;
    const t = await sparseTurn(s, { ...request(PROMPTS[3]!, DEFAULT_DART_SETTINGS, trace.state, []), sessionKey: "t", trace: { node: "full2", prior: trace.prior, kv: trace.kv } });
    expect(t.err).toBeUndefined();
    const held = residentNeurons(s);
    const entry = s.engine.cache.peek("t")!;
    const prior = decodePlan(a!.trace.prior!, 5, 172, 64);
    let newNeurons = 0;
    held.forEach((k, l) => {
      newNeurons += k.length - afterOne[l]!;
      // Every neuron of both sessions' masks and of the prior is resident, each once (a slot per neuron).
      for (const j of [...entry.state.ffn[l]!.kept, ...prior.kept[l]!]) expect(k).toContain(j);
      expect(new Set(s.transformer.ffn[l]!.neuronAt.filter((j) => j >= 0)).size).toBe(k.length);
    });
    expect(t.weights.shardsFetched).toBe(newNeurons);
    expect(t.weights.bytesFetched).toBe(newNeurons * 768);
  });

  it("with a budget of 0 the KV handoff still gives a single full node's greedy tokens", async () => {
    const want = singleConversation(fullNode(), DEFAULT_DART_SETTINGS, PROMPTS.slice(0, 1));
    const got = await splitConversation(fullNode(), await sparseNode(0), DEFAULT_DART_SETTINGS, "kv", PROMPTS.slice(0, 1));
    expect(got[0]!.done!.completionIds).toEqual(want[0]!.completionIds);
    expect(got[0]!.done!.pruner.state).toBe(want[0]!.pruner.state);
  });
});
