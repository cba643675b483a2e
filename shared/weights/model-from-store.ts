// Rebuilds a whole LoadedModel from a shard set (base tensors plus every FFN shard):
// the check that the format loses nothing, and a way to run a dense engine from R2.
// A q8_0 set gives an engine model in Q8_0 instead (its matrices and FFN bundles as stored).
import type { LayerWeights, LoadedModel } from "../model/weights.ts";
import { bytesFor, decodeInto } from "./dtype-codec.ts";
import { fillNeuron } from "./ffn-loader.ts";
import { WeightStoreError } from "./source.ts";
import type { WeightStore } from "./store.ts";
import { FfnBundles, type BundleFormat } from "../engine/ffn-bundles.ts";
import type { EngineModel } from "../engine/transformer.ts";

/** The fp32 model of an f32/f16/bf16 shard set (a q8_0 set has no fp32 form: see denseModelFromStore). */
export async function modelFromStore(store: WeightStore): Promise<Pick<LoadedModel, "config" | "weights">> {
  const { config: c, dtype, layers: shardLayers, neuronOrder } = store.manifest;
  if (dtype === "q8_0") throw new WeightStoreError("a q8_0 shard set loads as Q8_0 (denseModelFromStore), not as fp32 matrices");
  const { dim, hiddenDim } = c;
  const bpe = bytesFor(dtype, 1);
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
 * The whole model for an engine holding `format`: an f32/f16/bf16 set as fp32 matrices (the
 * Transformer quantizes them for q8_0, as --weights q8_0 does a model file); a q8_0 set as its
 * Q8_0 matrices and every neuron's shard adopted into Q8_0 FFN bundles, never dequantized.
 */
export async function denseModelFromStore(store: WeightStore, format: BundleFormat): Promise<EngineModel> {
  if (store.manifest.dtype !== "q8_0") return modelFromStore(store);
  const model = baseModelFromStore(store, format);
  const { config: c, layers } = store.manifest;
  for (let l = 0; l < c.nLayers; l++) {
    const bytes = await store.ensure(layers[l]!.map((_, index) => ({ layer: l, index })));
    const b = new FfnBundles(c.dim, c.hiddenDim, c.hiddenDim, undefined, "q8_0");
    for (let j = 0; j < c.hiddenDim; j++) fillNeuron(store, l, j, b, (s) => bytes[s]!);
    model.ffn![l] = b;
  }
  return model;
}

/**
 * A sparse node's model: the base tensors only, and per layer FFN bundles (in `format`) with room
 * for no neuron, so no dense FFN exists in any form (a dense token fails: FfnBundles.allSlots).
 * Its masks' neurons are decoded into those bundles as their shards arrive. Fetches no shard.
 * A q8_0 set's matrices come as Q8_0 (so `format` must be q8_0); other sets' as fp32.
 */
export function baseModelFromStore(store: WeightStore, format: BundleFormat = "f32"): EngineModel {
  const c = store.manifest.config;
  if (store.manifest.dtype === "q8_0" && format !== "q8_0") {
    throw new WeightStoreError("this shard set holds Q8_0 weights: serve it in the q8_0 weight format (a node's --quant q8_0, the default for such a set)");
  }
  const t = (l: number, name: string) => store.matrix(`blk.${l}.${name}`);
  const layers = Array.from({ length: c.nLayers }, (_, l) => ({
    attnNorm: store.tensor(`blk.${l}.attn_norm`), wq: t(l, "attn_q"), wk: t(l, "attn_k"), wv: t(l, "attn_v"), wo: t(l, "attn_output"), ffnNorm: store.tensor(`blk.${l}.ffn_norm`),
  }));
  const tokenEmbedding = store.tensor("token_embd");
  return {
    config: { ...c },
    weights: { tokenEmbedding, layers, finalNorm: store.tensor("output_norm"), classifier: store.manifest.tiedClassifier ? tokenEmbedding : store.matrix("output") },
    ffn: layers.map(() => new FfnBundles(c.dim, c.hiddenDim, 0, undefined, format)),
  };
}
