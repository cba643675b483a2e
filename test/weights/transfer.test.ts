import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDartSettings } from "../../shared/dart/settings.ts";
import { intervalMagnitudePruner } from "../../shared/weights/bench/interval-pruner.ts";
import { runConversation } from "../../shared/weights/bench/protocols.ts";
import { measureTransfer, median } from "../../shared/weights/transfer.ts";
import { dataPath, MODEL_DIR, stories } from "../helpers/model-dir.ts";
import { randomKept } from "./shard-set.ts";

const NEURON_BYTES = 3 * 64 * 4; // gate row + up row + down column, f32, dim 64
const Q8_NEURON_BYTES = 3 * 64 + (3 * 64 / 32) * 2; // the same as int8s and one f16 scale per 32

describe("bytes per context shift", () => {
  it("counts new shards by set difference and the whole new mask, per shard size", async () => {
    const { model } = stories();
    const a = Array.from({ length: 5 }, () => Int32Array.from([0, 1, 2, 3, 100]));
    const b = Array.from({ length: 5 }, () => Int32Array.from([0, 1, 2, 3, 101]));
    const c = Array.from({ length: 5 }, () => Int32Array.from([0, 1, 2, 3, 170]));
    const one = await measureTransfer(model, [[a, b, c]], 1);
    expect(one.shifts).toBe(2);
    expect(one.deltaBytesPerShift).toBe(5 * NEURON_BYTES); // one new neuron per layer
    expect(one.newMaskBytes).toBe(5 * 5 * NEURON_BYTES);
    expect(one.newNeuronFraction).toBeCloseTo(1 / 5);
    expect(one.ffnBytes).toBe(5 * 172 * NEURON_BYTES);
    const four = await measureTransfer(model, [[a, b, c]], 4);
    // 100 and 101 share shard 25, so a -> b moves nothing; b -> c needs shard 42 (neurons 168..171).
    expect(four.deltaBytesPerShift).toBe(median([0, 5 * 4 * NEURON_BYTES]));
    expect(four.newMaskBytes).toBe(5 * (4 + 4) * NEURON_BYTES);
    // The LRU store (budget 75% of the FFN) keeps a's shard when c comes: fetched = delta here.
    expect(four.lru.bytesFetched).toBe(5 * 8 * NEURON_BYTES + 5 * 4 * NEURON_BYTES);
  });

  it("random 50% masks renew about half the neurons at one neuron per shard", async () => {
    const { model } = stories();
    const masks = Array.from({ length: 9 }, (_, i) => Array.from({ length: 5 }, (_, l) => randomKept(172, 86, i * 5 + l + 1)));
    const s = await measureTransfer(model, [masks], 1);
    expect(s.newMaskBytes).toBe(5 * 86 * NEURON_BYTES);
    expect(s.deltaBytesPerShift / s.newMaskBytes).toBeGreaterThan(0.4);
    expect(s.deltaBytesPerShift / s.newMaskBytes).toBeLessThan(0.6);
  });

  it("records the stand-in pruner's masks over a conversation: one per trace, kept sets of the right size", () => {
    const { tf, tok } = stories();
    const settings = parseDartSettings({ sparsity: 0.5, maskingStep: 4 });
    const rec = runConversation(tf, tok, (st) => intervalMagnitudePruner(tf, st, settings, 8), ["Once upon a time", "The cat sat on the mat."], 24);
    const turnTokens = tok.encode("Once upon a time", { bos: true }).length + tok.encode("The cat sat on the mat.", { bos: false }).length;
    expect(rec.tokens).toBe(turnTokens + 2 * 24);
    expect(rec.masks.length).toBeGreaterThanOrEqual(3);
    for (const m of rec.masks) for (const kept of m) expect(kept.length).toBe(86);
    expect(rec.denseTokens).toBeGreaterThan(0);
  });

  it("dart bench --transfer --json prints shifts, deltaBytesPerShift, newMaskBytes and ffnBytes", () => {
    const out = execFileSync(
      process.execPath,
      [resolve(import.meta.dirname, "../../cli/dart.ts"), "bench", "--transfer", "--model", dataPath("stories260K.bin"),
        "--method", "interval-magnitude", "--sparsity", "0.5", "--neurons-per-shard", "1", "--shard-sizes", "1,64", "--dtype", "f32,q8_0", "--data-dir", MODEL_DIR, "--json"],
      { encoding: "utf8" },
    );
    const r = JSON.parse(out);
    expect(r.shifts).toBeGreaterThan(2);
    expect(r.ffnBytes).toBe(5 * 172 * NEURON_BYTES);
    expect(r.newMaskBytes).toBe(5 * 86 * NEURON_BYTES); // N = 1: exactly the kept half
    expect(r.deltaBytesPerShift).toBeGreaterThan(0);
    expect(r.deltaBytesPerShift).toBeLessThanOrEqual(r.newMaskBytes);
    const n64 = r.shardSizes.find((s: { neuronsPerShard: number }) => s.neuronsPerShard === 64);
    expect(n64.newMaskBytes).toBe(r.ffnBytes); // a scattered 50% mask touches every 64-neuron shard
    // The same masks through a q8_0 set: the same shards, 204 bytes a neuron (int8s + f16 scales) instead of 768.
    const q8 = r.dtypes.find((d: { dtype: string; neuronsPerShard: number }) => d.dtype === "q8_0" && d.neuronsPerShard === 1);
    expect(q8).toMatchObject({ shardBytes: Q8_NEURON_BYTES, ffnBytes: 5 * 172 * Q8_NEURON_BYTES, newMaskBytes: 5 * 86 * Q8_NEURON_BYTES });
    expect(q8.deltaBytesPerShift).toBe((r.deltaBytesPerShift / NEURON_BYTES) * Q8_NEURON_BYTES);
  });

  it("a q8_0 shard set moves the same shards per shift in 204 bytes a neuron, through the real store too", async () => {
    const { model } = stories();
    const masks = Array.from({ length: 5 }, (_, i) => Array.from({ length: 5 }, (_, l) => randomKept(172, 86, i * 5 + l + 3)));
    const f32 = await measureTransfer(model, [masks], 1);
    const q8 = await measureTransfer(model, [masks], 1, 0.75, undefined, "q8_0");
    expect(q8.shardBytes).toBe(Q8_NEURON_BYTES);
    expect(q8.deltaBytesPerShift * NEURON_BYTES).toBe(f32.deltaBytesPerShift * Q8_NEURON_BYTES);
    expect(q8.lru.shardsFetched).toBe(f32.lru.shardsFetched);
    expect(q8.lru.bytesFetched).toBe(q8.lru.shardsFetched * Q8_NEURON_BYTES);
    expect(f32.lru.bytesFetched / q8.lru.bytesFetched).toBeCloseTo(768 / 204, 9);
  });
});
