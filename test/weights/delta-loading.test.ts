import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compactFromDense, type CompactFfn } from "../../shared/engine/compact-ffn.ts";
import { FfnDeltaLoader, shardsForKept } from "../../shared/weights/ffn-loader.ts";
import { modelFromStore } from "../../shared/weights/model-from-store.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { stories } from "../helpers/model-dir.ts";
import { bits, expectSameCompact, randomKept, tempShardSet, type TempShardSet } from "./shard-set.ts";



describe("delta loading from resident shards", () => {
  const sets = new Map<number, TempShardSet>();
  beforeAll(async () => {
    for (const n of [1, 7, 16]) sets.set(n, await tempShardSet({ neuronsPerShard: n }));
  });
  afterAll(() => sets.forEach((s) => s.remove()));

  it.each([1, 7, 16])("rebuilds CompactFfn bit-exactly equal to compactFromDense (N = %i)", async (n) => {
    const { model } = stories();
    const loader = new FfnDeltaLoader(await WeightStore.open(sets.get(n)!.folder));
    const kept = Array.from({ length: 5 }, (_, l) => randomKept(172, 86, 11 * n + l));
    const { ffn } = await loader.load(kept);
    ffn.forEach((f, l) => expectSameCompact(f, compactFromDense(model.weights.layers[l]!, 64, 172, kept[l]!)));
  });

  it("on a re-mask fetches exactly the shards the old mask lacked", async () => {
    const { model } = stories();
    const store = await WeightStore.open(sets.get(16)!.folder);
    const loader = new FfnDeltaLoader(store);
    // Small kept sets: a scattered set of 40 would touch all 11 shards of a layer.
    const a = Array.from({ length: 5 }, (_, l) => randomKept(172, 8, 100 + l));
    const b = a.map((k, l) => (l === 2 ? k : randomKept(172, 8, 200 + l))); // layer 2 keeps its mask
    const first = await loader.load(a);
    const second = await loader.load(b);
    // Independent count: shards of b not among shards of a, from neuron / 16 by hand.
    let missing = 0;
    let missingBytes = 0;
    b.forEach((k, l) => {
      const had = new Set([...a[l]!].map((j) => Math.floor(j / 16)));
      for (const s of new Set([...k].map((j) => Math.floor(j / 16)))) {
        if (!had.has(s)) {
          missing++;
          missingBytes += 3 * 64 * 4 * (s === 10 ? 12 : 16);
        }
      }
    });
    expect(missing).toBeGreaterThan(0);
    expect(second.report.shardsFetched).toBe(missing);
    expect(second.report.bytesFetched).toBe(missingBytes);
    expect(store.stats().bytesFetched).toBe(first.report.bytesFetched + missingBytes);
    expect(second.report.layersRebuilt).toBe(4);
    expect(second.ffn[2]).toBe(first.ffn[2]); // unchanged layer: same buffers, no rebuild
    second.ffn.forEach((f, l) => expectSameCompact(f, compactFromDense(model.weights.layers[l]!, 64, 172, b[l]!)));
  });

  it("runs the forward pass from store-built FFNs exactly like from the dense model", async () => {
    const { model, tf, tok } = stories();
    // One neuron per shard: 100 kept neurons x 5 layers x 768 bytes = 384000 fits the budget.
    const loader = new FfnDeltaLoader(await WeightStore.open(sets.get(1)!.folder, { budgetBytes: 400_000 }));
    const kept = Array.from({ length: 5 }, (_, l) => randomKept(172, 100, 300 + l));
    const { ffn } = await loader.load(kept);
    const s1 = tf.newState(), s2 = tf.newState();
    kept.forEach((k, l) => {
      s1.ffn[l] = compactFromDense(model.weights.layers[l]!, 64, 172, k);
      s2.ffn[l] = ffn[l]!;
    });
    tok.encode("The cat sat", { bos: true }).forEach((t, pos) => {
      expect(bits(tf.forward(s2, t, pos))).toEqual(bits(tf.forward(s1, t, pos)));
    });
  });

  it("with a permuted neuron layout, fetches the shards that hold the kept neurons and still matches compactFromDense", async () => {
    const { model } = stories();
    // Layer l stores neurons in reverse order, shifted by l: neuron j sits in slot (171 - j + l) % 172.
    const order = Array.from({ length: 5 }, (_, l) => Int32Array.from({ length: 172 }, (_, i) => (171 - i + l + 172) % 172));
    const set = await tempShardSet({ neuronsPerShard: 16, order });
    try {
      const store = await WeightStore.open(set.folder);
      const loader = new FfnDeltaLoader(store);
      const kept = Array.from({ length: 5 }, () => Int32Array.from([0, 1, 171]));
      const { ffn, report } = await loader.load(kept);
      ffn.forEach((f, l) => expectSameCompact(f, compactFromDense(model.weights.layers[l]!, 64, 172, kept[l]!)));
      // Layer 0: neurons 0 and 1 sit in slots 171 and 170 (shard 10), neuron 171 in slot 0 (shard 0).
      expect(store.isResident({ layer: 0, index: 10 }) && store.isResident({ layer: 0, index: 0 })).toBe(true);
      // Layer 1: slots 0, 171, 1 (shards 0 and 10); layers 2-4: slots l-1, l-2, l, all in shard 0.
      expect(report.shardsNeeded).toBe(2 + 2 + 1 + 1 + 1);
      expect(store.shardOf(0, 171)).toBe(0);
      const back = await modelFromStore(store);
      expect(bits(back.weights.layers[3]!.wDown)).toEqual(bits(model.weights.layers[3]!.wDown));
    } finally {
      set.remove();
    }
  });

  it("maps kept neurons to distinct shards and rejects bad kept sets", async () => {
    expect(shardsForKept(Int32Array.from([0, 3, 4, 15, 16, 40]), 4)).toEqual([0, 1, 3, 4, 10]);
    const loader = new FfnDeltaLoader(await WeightStore.open(sets.get(16)!.folder));
    const ok = randomKept(172, 10, 1);
    await expect(loader.load([ok, ok, ok, ok, Int32Array.from([3, 2])])).rejects.toThrow(/ascending/);
    await expect(loader.load([ok, ok, ok, ok, Int32Array.from([172])])).rejects.toThrow(/out of range/);
    await expect(loader.load([ok])).rejects.toThrow(/1 layers/);
    const dense = await loader.load([null, ok, ok, ok, ok]);
    expect(dense.ffn[0]!.kept.length).toBe(172);
  });
});
