// The weights a Transformer holds besides its FFNs: the FFN matrices live
// neuron-major in FfnBundles (ffn-bundles.ts), one copy, never also row-major.
import type { LayerWeights, ModelWeights } from "../model/weights.ts";

export type AttentionLayerWeights = Omit<LayerWeights, "wGate" | "wUp" | "wDown">;

export interface EngineWeights extends Omit<ModelWeights, "layers"> {
  layers: AttentionLayerWeights[];
}
