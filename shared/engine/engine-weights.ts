// The weights a Transformer holds besides its FFNs: the FFN matrices live
// neuron-major in FfnBundles (ffn-bundles.ts), one copy, never also row-major.
// With --weights q8_0 the matrices are Q8_0 (../model/q8.ts); norms and the embedding table
// (read one row per token) stay fp32.
import type { Q8Matrix } from "../model/q8.ts";
import type { LayerWeights, ModelWeights } from "../model/weights.ts";

/** A weight matrix, rows = outputs: fp32 row-major, or Q8_0. */
export type Matrix = Float32Array | Q8Matrix;

export interface AttentionLayerWeights extends Omit<LayerWeights, "wGate" | "wUp" | "wDown" | "wq" | "wk" | "wv" | "wo"> {
  wq: Matrix;
  wk: Matrix;
  wv: Matrix;
  wo: Matrix;
}

export interface EngineWeights extends Omit<ModelWeights, "layers" | "classifier"> {
  layers: AttentionLayerWeights[];
  classifier: Matrix;
}
