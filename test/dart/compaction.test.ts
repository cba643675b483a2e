// Compacted FFN execution must equal the dense FFN with a 0/1 mask on down_proj's input.
import { describe, expect, it } from "vitest";
import { compactFromDense, keptFromMask, packedWeights } from "../../shared/engine/compact-ffn.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { Rng } from "../../shared/engine/sampler.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import type { ModelConfig } from "../../shared/model/config.ts";
import { stories } from "../helpers/model-dir.ts";

function randomModel(seed: number): LoadedModel {
  const rng = new Rng(seed);
  const config: ModelConfig = { dim: 16, hiddenDim: 40, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 32, seqLen: 16, ropeTheta: 10000, normEps: 1e-5 };
  const r = (n: number, s = 0.3) => Float32Array.from({ length: n }, () => (rng.next() * 2 - 1) * s);
  const ones = (n: number) => new Float32Array(n).fill(1);
  const kv = 8;
  const emb = r(32 * 16, 1);
  return {
    config,
    weights: {
      tokenEmbedding: emb,
      classifier: emb,
      finalNorm: ones(16),
      layers: [0, 1].map(() => ({
        attnNorm: ones(16), ffnNorm: ones(16),
        wq: r(16 * 16), wk: r(kv * 16), wv: r(kv * 16), wo: r(16 * 16),
        wGate: r(40 * 16), wUp: r(40 * 16), wDown: r(16 * 40),
      })),
    },
    source: { format: "llama2c", version: 0, dtypes: ["f32"] },
  };
}

/** The dense forward with down_proj's input multiplied by a 0/1 mask (the reference code's way). */
function maskedDenseModel(model: LoadedModel, masks: Uint8Array[]): LoadedModel {
  const { dim, hiddenDim } = model.config;
  return {
    ...model,
    weights: {
      ...model.weights,
      layers: model.weights.layers.map((l, li) => {
        const wDown = l.wDown.slice();
        for (let d = 0; d < dim; d++) for (let j = 0; j < hiddenDim; j++) if (!masks[li]![j]) wDown[d * hiddenDim + j] = 0;
        return { ...l, wDown };
      }),
    },
  };
}

function randomMasks(rng: Rng, L: number, hidden: number, keepFrac: number): Uint8Array[] {
  return Array.from({ length: L }, () => Uint8Array.from({ length: hidden }, () => (rng.next() < keepFrac ? 1 : 0)));
}

function compare(model: LoadedModel, masks: Uint8Array[], ids: number[]): number {
  const compact = new Transformer(model);
  const reference = new Transformer(maskedDenseModel(model, masks));
  const a = compact.newState();
  const b = reference.newState();
  masks.forEach((m, l) => (a.ffn[l] = compactFromDense(model.weights.layers[l]!, model.config.dim, model.config.hiddenDim, keptFromMask(m))));
  let maxDiff = 0;
  ids.forEach((t, pos) => {
    const la = compact.forward(a, t, pos);
    const lb = reference.forward(b, t, pos);
    // Relative to the row's largest logit: float32 sums taken in another order differ in the last bits.
    const scale = Math.max(1, ...Array.from(lb, Math.abs));
    for (let i = 0; i < la.length; i++) maxDiff = Math.max(maxDiff, Math.abs(la[i]! - lb[i]!) / scale);
  });
  return maxDiff;
}

describe("compacted FFN", () => {
  it("equals dense-with-mask on random weights and inputs", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 5; trial++) {
      const model = randomModel(100 + trial);
      const ids = Array.from({ length: 12 }, () => rng.nextU32() % 32);
      expect(compare(model, randomMasks(rng, 2, 40, 0.5), ids)).toBeLessThan(1e-5);
    }
  });

  it("equals dense-with-mask on the real model, and differs from dense", () => {
    const { model, tok } = stories("bin");
    const ids = tok.encode("Once upon a time, there was a little dog named Max who loved to run.");
    const rng = new Rng(9);
    const masks = randomMasks(rng, 5, 172, 0.6);
    expect(compare(model, masks, ids)).toBeLessThan(1e-5);
    // The mask matters: dense and compacted logits are far apart.
    const tf = new Transformer(model);
    const dense = tf.newState();
    const pruned = tf.newState();
    masks.forEach((m, l) => (pruned.ffn[l] = compactFromDense(model.weights.layers[l]!, 64, 172, keptFromMask(m))));
    let diff = 0;
    ids.forEach((t, pos) => {
      const a = tf.forward(dense, t, pos).slice();
      const b = tf.forward(pruned, t, pos);
      for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    });
    expect(diff).toBeGreaterThan(0.1);
  });

  it("packs only the kept neurons (k rows of gate and up, k columns of down)", () => {
    const { model } = stories("bin");
    const kept = Int32Array.of(0, 5, 171);
    const c = packedWeights(compactFromDense(model.weights.layers[1]!, 64, 172, kept));
    expect(c.gate.length).toBe(3 * 64);
    expect(Array.from(c.up.subarray(64, 128))).toEqual(Array.from(model.weights.layers[1]!.wUp.subarray(5 * 64, 6 * 64)));
    expect(c.downT[2 * 64 + 7]).toBe(model.weights.layers[1]!.wDown[7 * 172 + 171]);
    expect(() => compactFromDense(model.weights.layers[1]!, 64, 172, Int32Array.of(172))).toThrow(/out of range/);
  });
});
