// --weights q8_0: the attention matrices and the classifier in Q8_0 (the FFN's bundles are
// quantized by FfnBundles.fromDense). Matrices already in Q8_0 (a GGUF q8_0 file) are kept
// as they are; norms and the embedding table (one row read per token) stay fp32. A tied
// classifier gets its own Q8_0 copy, since the embedding rows stay fp32.
import { kvDim, type ModelConfig } from "../model/config.ts";
import { isQ8, quantizeQ8, type Q8Matrix } from "../model/q8.ts";
import type { ModelWeights } from "../model/weights.ts";
import type { EngineWeights, Matrix } from "./engine-weights.ts";

export type WeightFormat = "f32" | "q8_0";
export const WEIGHT_FORMATS: readonly WeightFormat[] = ["f32", "q8_0"];

export function quantizeEngineWeights(w: ModelWeights | EngineWeights, c: ModelConfig, alloc?: (n: number) => Float32Array): EngineWeights {
  const q = (m: Matrix, rows: number, cols: number): Q8Matrix => (isQ8(m) ? m : quantizeQ8(m, rows, cols, alloc));
  const kv = kvDim(c);
  return {
    tokenEmbedding: w.tokenEmbedding,
    finalNorm: w.finalNorm,
    classifier: q(w.classifier, c.vocabSize, c.dim),
    layers: w.layers.map((l) => ({
      attnNorm: l.attnNorm,
      wq: q(l.wq, c.dim, c.dim),
      wk: q(l.wk, kv, c.dim),
      wv: q(l.wv, kv, c.dim),
      wo: q(l.wo, c.dim, c.dim),
      ffnNorm: l.ffnNorm,
    })),
  };
}
