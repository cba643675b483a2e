// Rebuilds a whole LoadedModel from a shard set (base tensors plus every FFN shard):
// the check that the format loses nothing, and a way to run a dense engine from R2.
import type { LayerWeights, LoadedModel } from "../model/weights.ts";
import { bytesPerElement, decodeInto } from "./dtype-codec.ts";
import type { WeightStore } from "./store.ts";

/**
 * `denseFfn: false` leaves every FFN matrix empty and fetches no shard: a sparse node's model,
 * which runs the FFN only compacted, from shards it makes resident per mask.
 */
export async function modelFromStore(store: WeightStore, opts: { denseFfn?: boolean } = {}): Promise<Pick<LoadedModel, "config" | "weights">> {
  const dense = opts.denseFfn ?? true;
  const { config: c, dtype, layers: shardLayers, neuronOrder } = store.manifest;
  const { dim, hiddenDim } = c;
  const bpe = bytesPerElement(dtype);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    const refs = dense ? shardLayers[l]! : [];
    const bytes = await store.ensure(refs.map((_, index) => ({ layer: l, index })));
    const ffnFloats = dense ? hiddenDim * dim : 0;
    const wGate = new Float32Array(ffnFloats);
    const wUp = new Float32Array(ffnFloats);
    const wDown = new Float32Array(ffnFloats);
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
