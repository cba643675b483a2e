// Everything a node needs from a shard set alone: the verified model (base plus
// every FFN shard, dense), its tokenizer, and DART's forward proxy installed so
// shared/dart does not recompute it.
import { setForwardProxy } from "../dart/priors.ts";
import { Transformer } from "../engine/transformer.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { DEFAULT_CONTEXT } from "../model/gguf.ts";
import type { WeightFormat } from "../engine/quantize-weights.ts";
import { baseModelFromStore, denseModelFromStore } from "./model-from-store.ts";
import type { ObjectSource } from "./source.ts";
import { WeightStore, type WeightStoreOptions } from "./store.ts";

export interface StoreModel {
  store: WeightStore;
  transformer: Transformer;
  /** Null when the shard set was built without a tokenizer. */
  tokenizer: Tokenizer | null;
}

/** The weight format an engine on this store holds: `wanted`, else the set's own (q8_0 sets Q8_0, others fp32). */
export function storeWeightFormat(store: WeightStore, wanted?: WeightFormat): WeightFormat {
  return wanted ?? (store.manifest.dtype === "q8_0" ? "q8_0" : "f32");
}

/**
 * `denseFfn: false`: base weights only, no FFN in any form (a sparse node; see baseModelFromStore).
 * `maxContext` bounds the KV cache below the context length the shard set records (the
 * model file's own; default DEFAULT_CONTEXT positions), as --ctx does for a model file.
 * `weights`: the engine's weight format (default: the set's own, storeWeightFormat). q8_0 from
 * an f32 set quantizes at load as --weights q8_0 does a model file; a q8_0 set serves only q8_0.
 */
export async function openModelFromStore(source: ObjectSource, opts: WeightStoreOptions & { denseFfn?: boolean; maxContext?: number; weights?: WeightFormat } = {}): Promise<StoreModel> {
  const store = await WeightStore.open(source, opts);
  const format = storeWeightFormat(store, opts.weights);
  const model = opts.denseFfn === false ? baseModelFromStore(store, format) : await denseModelFromStore(store, format);
  const seqLen = Math.min(model.config.seqLen, opts.maxContext ?? DEFAULT_CONTEXT);
  const transformer = new Transformer({ ...model, config: { ...model.config, seqLen } }, { weights: format });
  // The engine holds its own copy of the base weights now (WASM memory): release the store's.
  store.releaseEngineTensors();
  const proxy = store.forwardProxy();
  if (proxy) setForwardProxy(transformer, proxy);
  const data = await store.tokenizerData();
  return { store, transformer, tokenizer: data ? new Tokenizer(data) : null };
}
