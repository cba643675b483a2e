// Rebuilds a whole LoadedModel from a shard set (base tensors plus every FFN shard):
// the check that the format loses nothing, and a way to run a dense engine from R2.
import type { LayerWeights, LoadedModel } from "../model/weights.ts";
import { bytesPerElement, decodeInto } from "./dtype-codec.ts";
import type { WeightStore } from "./store.ts";
import { FfnBundles } from "../engine/ffn-bundles.ts";
import type { EngineModel } from "../engine/transformer.ts";

export async function modelFromStore(store: WeightStore): Promise<Pick<LoadedModel, "config" | "weights">> {
  const { config: c, dtype, layers: shardLayers, neuronOrder } = store.manifest;
  const { dim, hiddenDim } = c;
  const bpe = bytesPerElement(dtype);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const refs = shardLayers[l]!;
    const bytes = await store.ensure(refs.map((_, index) => ({ layer: l, index })));
    const wGate = new Float32Array(hiddenDim * dim);
    const wUp = new Float32Array(hiddenDim * dim);
    const wDown = new Float32Array(dim * hiddenDim);
    const col = new Float32Array(dim);
    refs.forEach((ref, s) => {
      const section = ref.count * dim * bpe;
      for (let i = 0; i < ref.count; i++) {
        const j = neuronOrder ? neuronOrder[l]![ref.first + i]! : ref.first + i;
        decodeInto(bytes[s]!, i * dim * bpe, dtype, dim, wGate, j * dim);
        decodeInto(bytes[s]!, section + i * dim * bpe, dtype, dim, wUp, j * dim);
        decodeInto(bytes[s]!, 2 * section + i * dim * bpe, dtype, dim, col, 0);
        for (let d = 0; d < dim; d++) wDown[d * hiddenDim + j] = col[d]!;
      }
    });
    const t = (name: string) => store.tensor(`blk.${l}.${name}`);
    layers.push({
      attnNorm: t("attn_norm"), wq: t("attn_q"), wk: t("attn_k"), wv: t("attn_v"), wo: t("attn_output"),
      ffnNorm: t("ffn_norm"), wGate, wDown, wUp,
    });
  }
  const tokenEmbedding = store.tensor("token_embd");
  return {
    config: { ...c },
    weights: {
      tokenEmbedding,
      layers,
      finalNorm: store.tensor("output_norm"),
      classifier: store.manifest.tiedClassifier ? tokenEmbedding : store.tensor("output"),
    },
  };
}

/**
 * A sparse node's model: the base tensors only, and per layer FFN bundles with room for no
 * neuron, so no dense FFN exists in any form (a dense token fails: FfnBundles.allSlots). Its
 * compacted FFNs bring their own bundles, built from the shards its masks keep. Fetches no shard.
 */
export function baseModelFromStore(store: WeightStore): EngineModel {
  const c = store.manifest.config;
  const t = (l: number, name: string) => store.tensor(`blk.${l}.${name}`);
  const layers = Array.from({ length: c.nLayers }, (_, l) => ({
    attnNorm: t(l, "attn_norm"), wq: t(l, "attn_q"), wk: t(l, "attn_k"), wv: t(l, "attn_v"), wo: t(l, "attn_output"), ffnNorm: t(l, "ffn_norm"),
  }));
  const tokenEmbedding = store.tensor("token_embd");
  return {
    config: { ...c },
    weights: { tokenEmbedding, layers, finalNorm: store.tensor("output_norm"), classifier: store.manifest.tiedClassifier ? tokenEmbedding : store.tensor("output") },
    ffn: layers.map(() => new FfnBundles(c.dim, c.hiddenDim, 0)),
  };
}
