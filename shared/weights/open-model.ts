// Everything a node needs from a shard set alone: the verified model (base plus
// every FFN shard, dense), its tokenizer, and DART's forward proxy installed so
// shared/dart does not recompute it.
import { setForwardProxy } from "../dart/priors.ts";
import { Transformer } from "../engine/transformer.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { DEFAULT_CONTEXT } from "../model/gguf.ts";
import { baseModelFromStore, modelFromStore } from "./model-from-store.ts";
import type { ObjectSource } from "./source.ts";
import { WeightStore, type WeightStoreOptions } from "./store.ts";

export interface StoreModel {
  store: WeightStore;
  transformer: Transformer;
  /** Null when the shard set was built without a tokenizer. */
  tokenizer: Tokenizer | null;
}

/**
 * `denseFfn: false`: base weights only, no FFN in any form (a sparse node; see baseModelFromStore).
 * `maxContext` bounds the KV cache below the context length the shard set records (the
 * model file's own; default DEFAULT_CONTEXT positions), as --ctx does for a model file.
 */
export async function openModelFromStore(source: ObjectSource, opts: WeightStoreOptions & { denseFfn?: boolean; maxContext?: number } = {}): Promise<StoreModel> {
  const store = await WeightStore.open(source, opts);
  const model = opts.denseFfn === false ? baseModelFromStore(store) : await modelFromStore(store);
  const seqLen = Math.min(model.config.seqLen, opts.maxContext ?? DEFAULT_CONTEXT);
  const transformer = new Transformer({ ...model, config: { ...model.config, seqLen } });
  // The engine holds its own copy of the base weights now (WASM memory): release the store's.
  store.releaseEngineTensors();
  const proxy = store.forwardProxy();
  if (proxy) setForwardProxy(transformer, proxy);
  const data = await store.tokenizerData();
  return { store, transformer, tokenizer: data ? new Tokenizer(data) : null };
}
