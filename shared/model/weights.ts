import type { ModelConfig } from "./config.ts";

/**
 * Weights of one transformer block, fp32, row-major with rows = outputs
 * (the layout of llama2.c and of GGUF's ne[0] = input width).
 */
export interface LayerWeights {
  attnNorm: Float32Array; // dim
  wq: Float32Array; // dim x dim
  wk: Float32Array; // kvDim x dim
  wv: Float32Array; // kvDim x dim
  wo: Float32Array; // dim x dim
  ffnNorm: Float32Array; // dim
  wGate: Float32Array; // hidden x dim  (llama2.c w1)
  wDown: Float32Array; // dim x hidden  (llama2.c w2)
  wUp: Float32Array; // hidden x dim    (llama2.c w3)
}

export interface ModelWeights {
  tokenEmbedding: Float32Array; // vocab x dim
  layers: LayerWeights[];
  finalNorm: Float32Array; // dim
  /** vocab x dim; the same array as tokenEmbedding when the classifier is tied. */
  classifier: Float32Array;
}

export interface LoadedModel {
  config: ModelConfig;
  weights: ModelWeights;
  /** Which file format and tensor dtypes the weights came from (informational). */
  source: { format: "llama2c" | "gguf"; version: number; dtypes: string[] };
}
