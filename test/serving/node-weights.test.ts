// A node serving from the weight store, in-process on the real model: the pruner's FFN
// builder from resident shards is bit-exact with the default (dense-weight) builder, turns
// answer exactly as a file-loaded node, the turn's shards are made resident before the
// synchronous generation, and a budget below the FFN means refetching after eviction.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compactFromDense } from "../../shared/engine/compact-ffn.ts";
import { NeuronNotResidentError } from "../../shared/engine/ffn-bundles.ts";
import { createPruner, DEFAULT_DART_SETTINGS, type DartSettings } from "../../shared/dart/index.ts";
import { MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import type { NodeEvent, NodeTurnRequest, TurnDone } from "../../shared/serving/protocol.ts";
import { openModelFromStore, type StoreModel } from "../../shared/weights/open-model.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { NodeWeights } from "../../workers/node/node-weights.ts";
import { runTurn, type NodeEngine } from "../../workers/node/run-turn.ts";
import { stories } from "../helpers/model-dir.ts";
import { expectSameCompact, randomKept, servingShardSet, STORIES_FFN_BYTES, type TempShardSet } from "../weights/shard-set.ts";

const file = stories();
setTokenizer(file.tf, file.tok);
let set: TempShardSet;
const FFN_BYTES = STORIES_FFN_BYTES;

beforeAll(async () => {
  set = await servingShardSet();
});
afterAll(() => set?.remove());

async function storeNode(budgetBytes?: number): Promise<StoreModel & { weights: NodeWeights; engine: NodeEngine }> {
  const m = await openModelFromStore(set.folder, { budgetBytes });
  setTokenizer(m.transformer, m.tokenizer!);
  const weights = new NodeWeights(m.store, m.transformer);
  return { ...m, weights, engine: { name: "store", tf: m.transformer, tok: m.tokenizer!, cache: new KvCache(64 << 20), prunerOptions: weights.prunerOptions } };
}

function request(content: string, dart: DartSettings, prunerState: string, context: number[][]): NodeTurnRequest {
  return { sessionKey: "s", context, segments: [{ text: content }], maxTokens: 40, temperature: 0, topP: 1, seed: 1, dart, prunerState };
}

const PROMPTS = ["Once upon a time there was a little cat", "The president said that the economy of the nation", "Lily went to the park with her dog"];

/** A multi-turn conversation; the store node makes each turn's shards resident first. */
async function conversation(engine: NodeEngine, dart: DartSettings, weights?: NodeWeights) {
  let state = "";
  const context: number[][] = [];
  const turns: { done: TurnDone; weights?: ReturnType<NodeWeights["finish"]> }[] = [];
  for (const p of PROMPTS) {
    await weights?.prepare(dart);
    const events: NodeEvent[] = [];
    runTurn(engine, request(p, dart, state, context), (e) => events.push(e), () => false);
    const w = weights?.finish();
    const done = events.find((e) => e.type === "done") as TurnDone | undefined;
    expect(done, JSON.stringify(events.find((e) => e.type === "error"))).toBeDefined();
    const start = events.find((e) => e.type === "start")!;
    if (start.type === "start") context.push(...start.segmentIds, done!.completionIds);
    state = done!.pruner.state;
    turns.push({ done: done!, weights: w });
  }
  return turns;
}

describe("pruner FFN builder from resident shards", () => {
  it("builds bit-exactly what compactFromDense builds, and refuses a shard that is not resident", async () => {
    const { store, weights } = await storeNode();
    const kept = randomKept(172, 86, 7);
    for (let l = 0; l < 5; l++) expectSameCompact(weights.ffn.build(l, kept), compactFromDense(file.model.weights.layers[l]!, 64, 172, kept));
    // A budget-limited store that holds only some shards cannot build other masks.
    const small = await openModelFromStore(set.folder, { budgetBytes: FFN_BYTES / 4 });
    const resident = Array.from({ length: 172 }, (_, j) => j).filter((j) => small.store.isResident({ layer: 0, index: j }));
    expect(resident.length).toBeLessThan(172);
    const missing = Int32Array.from([Array.from({ length: 172 }, (_, j) => j).find((j) => !resident.includes(j))!]);
    expect(() => new NodeWeights(small.store, small.transformer).ffn.build(0, missing)).toThrow(NeuronNotResidentError);
    expect(store.stats().residentShards).toBe(860);
  });

  it("createPruner keeps its 4-argument form and, with a builder, installs identical buffers", async () => {
    const { weights, transformer } = await storeNode();
    const settings: DartSettings = { ...DEFAULT_DART_SETTINGS, method: "static" };
    const a = createPruner(file.tf, file.tf.newState(), settings) as MaskingPruner;
    const b = createPruner(transformer, transformer.newState(), settings, undefined, weights.prunerOptions) as MaskingPruner;
    // Restoring a saved state goes through the builder too.
    const c = createPruner(transformer, transformer.newState(), settings, a.serialize(), weights.prunerOptions) as MaskingPruner;
    const stateA = file.tf.newState(), stateB = transformer.newState();
    const pa = createPruner(file.tf, stateA, settings) as MaskingPruner;
    const pb = createPruner(transformer, stateB, settings, undefined, weights.prunerOptions) as MaskingPruner;
    pa.beforeForward(0, 1, "decode");
    pb.beforeForward(0, 1, "decode");
    for (let l = 0; l < 5; l++) expectSameCompact(stateB.ffn[l]!, stateA.ffn[l]!);
    expect(Buffer.from(b.serialize())).toEqual(Buffer.from(a.serialize()));
    expect(Buffer.from(c.serialize())).toEqual(Buffer.from(a.serialize()));
  });

  it.each(["dart", "dart-paper", "griffin", "static"] as const)("a %s conversation on the store node answers exactly as the file node", async (method) => {
    const dart = { ...DEFAULT_DART_SETTINGS, method };
    const fileNode: NodeEngine = { name: "file", tf: file.tf, tok: file.tok, cache: new KvCache(64 << 20) };
    const { engine, weights } = await storeNode();
    const want = await conversation(fileNode, dart);
    const got = await conversation(engine, dart, weights);
    got.forEach((t, i) => {
      expect(t.done.completion).toBe(want[i]!.done.completion);
      expect(t.done.pruner.state).toBe(want[i]!.done.pruner.state);
      expect(t.done.pruner.stats).toEqual(want[i]!.done.pruner.stats);
      expect(t.weights!.layersBuilt).toBeGreaterThan(0); // the compacted FFNs came from shards
    });
    expect(want.at(-1)!.done.pruner.stats.effectiveSparsity).toBeGreaterThan(0.1);
  });
});

describe("ensure before the turn, trim after it", () => {
  it("with the whole FFN resident a turn fetches nothing", async () => {
    const { engine, weights } = await storeNode();
    const turns = await conversation(engine, DEFAULT_DART_SETTINGS, weights);
    for (const t of turns) expect(t.weights).toMatchObject({ need: "all", shardsNeeded: 860, bytesFetched: 0, shardsFetched: 0, cacheHits: 860 });
  });

  it("a budget of half the FFN refetches, on every tracing turn, what the last trim evicted", async () => {
    const budget = FFN_BYTES / 2;
    const { engine, weights, store } = await storeNode(budget);
    const turns = await conversation(engine, DEFAULT_DART_SETTINGS, weights);
    for (const t of turns) {
      const w = t.weights!;
      expect(w.need).toBe("all");
      expect(w.residentBytes).toBeLessThanOrEqual(budget);
      expect(w.shardsFetched + w.cacheHits).toBe(860);
      expect(w.shardsFetched).toBeGreaterThan(0);
      expect(w.bytesFetched).toBe(w.shardsFetched * 768);
      expect(w.evictions).toBe(w.shardsFetched); // back to the same resident size
    }
    // What stays resident after a trim is the final masks' shards (plus the most recent others).
    expect(store.stats().residentBytes).toBeGreaterThan(budget * 0.9);
  });

  it("a shard corrupted in the source after its eviction fails the next turn's prepare, before any token", async () => {
    const { engine, weights, store } = await storeNode(FFN_BYTES / 2);
    await conversation(engine, DEFAULT_DART_SETTINGS, weights);
    const ids = store.manifest.layers.flatMap((refs, layer) => refs.map((_, index) => ({ layer, index })));
    const id = ids.find((x) => !store.isResident(x))!;
    const evicted = store.shardRef(id);
    const path = join(set.dir, evicted.key);
    const good = readFileSync(path);
    const bad = Buffer.from(good);
    bad[0]! ^= 1;
    writeFileSync(path, bad);
    try {
      await expect(weights.prepare(DEFAULT_DART_SETTINGS)).rejects.toThrow(new RegExp(`${evicted.key} .* failed verification twice .* refusing to use it`));
      expect(store.isResident(id)).toBe(false);
      expect(store.stats().refetches).toBe(1);
    } finally {
      writeFileSync(path, good);
      weights.finish();
    }
  });

  it("a fixed-mask method (static) runs its prompt dense, so with the FFN held once it needs every shard too, and answers as the file node", async () => {
    const budget = FFN_BYTES / 2;
    const { engine, weights, transformer } = await storeNode(budget);
    const dart: DartSettings = { ...DEFAULT_DART_SETTINGS, method: "static" };
    const fileNode: NodeEngine = { name: "file", tf: file.tf, tok: file.tok, cache: new KvCache(64 << 20) };
    const want = await conversation(fileNode, dart);
    const turns = await conversation(engine, dart, weights);
    turns.forEach((t, i) => {
      expect(t.weights!.need).toBe("all");
      expect(t.weights!.shardsFetched + t.weights!.cacheHits).toBe(860);
      expect(t.done.completion).toBe(want[i]!.done.completion);
      expect(t.weights!.residentBytes).toBeLessThanOrEqual(budget); // back under the budget: one copy, trimmed
    });
    // Between turns the engine's bundles hold exactly what the store calls resident.
    const held = transformer.ffn.reduce((n, b) => n + b.resident, 0);
    expect(held * 768).toBe(weights.store.stats().residentBytes);
  });
});
