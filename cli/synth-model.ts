// Seeded random Llama weights at realistic shapes, for speed measurements with
// no download. Never for quality: the weights are noise.
import type { ModelConfig } from "../shared/model/config.ts";
import { writeLlama2cFile, type TensorSlot } from "./llama2c-stream.ts";
import { LLAMA2C_NORM_EPS } from "../shared/model/llama2c.ts";

const base = { ropeTheta: 10000, normEps: LLAMA2C_NORM_EPS };

/** Shapes `dart synth` knows. Classifiers are tied to the embedding (llama2.c's positive vocab). */
export const SHAPES: Record<string, ModelConfig> = {
  /** For tests: small, with grouped-query attention and widths that exercise every kernel path. */
  tiny: { dim: 48, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 96, seqLen: 32, ...base },
  stories110M: { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, seqLen: 1024, ...base },
  /** Llama-3.1-8B layer shapes, 8 of its 32 layers: 9.1 GB of fp32, what this 24 GB machine holds with room to spare. */
  "llama3-8b-8l": { dim: 4096, hiddenDim: 14336, nLayers: 8, nHeads: 32, nKvHeads: 8, vocabSize: 128256, seqLen: 2048, ...base },
  /** One Llama-3.1-8B layer with a 32,000-token vocabulary (tokenizer-32000.bin): 1.4 GB, for per-layer memory measurements. */
  "llama3-8b-1l": { dim: 4096, hiddenDim: 14336, nLayers: 1, nHeads: 32, nKvHeads: 8, vocabSize: 32000, seqLen: 2048, ...base },
};

/** mulberry32: a small, fast, seeded PRNG; one stream per tensor so chunking cannot change the values. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fan-in of a tensor, for the uniform(-1,1) * sqrt(3 / fanIn) init (unit-variance outputs). */
function fanIn(t: TensorSlot, c: ModelConfig): number {
  return t.name === "wDown" ? c.hiddenDim : c.dim;
}

export function synthFill(c: ModelConfig, seed: number) {
  const streams = new Map<string, () => number>();
  let index = 0;
  return (t: TensorSlot, out: Float32Array, offset: number): void => {
    const key = `${t.name}/${t.layer}`;
    let r = streams.get(key);
    if (!r || offset === 0) {
      r = rng((seed * 0x9e3779b1 + ++index * 0x85ebca6b) >>> 0);
      streams.set(key, r);
    }
    if (t.name === "attnNorm" || t.name === "ffnNorm" || t.name === "finalNorm") out.fill(1);
    else if (t.name.startsWith("rope")) out.fill(0); // unused by readers; RoPE is recomputed
    else {
      const a = Math.sqrt(3 / fanIn(t, c));
      for (let i = 0; i < out.length; i++) out[i] = (2 * r() - 1) * a;
    }
  };
}

/** Writes the shape's weights for `seed` to `path`, streaming; returns the file size. */
export function writeSynthModel(path: string, c: ModelConfig, seed: number): number {
  return writeLlama2cFile(path, c, true, synthFill(c, seed));
}
