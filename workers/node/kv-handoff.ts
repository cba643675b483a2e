// KV handoff between nodes: a full node's KV entries for the traced positions, packed
// layer-major, and installed into a sparse node's cache so it equals a dense prefill.
import { kvDim } from "../../shared/model/config.ts";
import type { InferenceState, Transformer } from "../../shared/engine/transformer.ts";
import { f32FromB64, f32ToB64 } from "../../shared/serving/tensor-b64.ts";
import type { KvHandoff } from "../../shared/serving/protocol.ts";

/** Packs positions from..ids.length-1 of `state` (which holds promptIds) and the last logits. */
export function packKv(tf: Transformer, state: InferenceState, promptIds: number[], from: number, logits: Float32Array): KvHandoff {
  const c = tf.config;
  const kv = kvDim(c);
  const n = promptIds.length - from;
  const keys = new Float32Array(c.nLayers * n * kv);
  const values = new Float32Array(c.nLayers * n * kv);
  for (let l = 0; l < c.nLayers; l++) {
    const src = (l * c.seqLen + from) * kv;
    keys.set(state.keyCache.subarray(src, src + n * kv), l * n * kv);
    values.set(state.valueCache.subarray(src, src + n * kv), l * n * kv);
  }
  return { from, ids: promptIds.slice(from), keys: f32ToB64(keys), values: f32ToB64(values), logits: f32ToB64(logits), weightFormat: tf.ffn[0]!.format };
}

/**
 * Installs positions `start`..end of a handoff that matches `promptIds` (same ids from kv.from
 * to the end); returns the last position's logits, or null when the handoff does not fit
 * (other ids, wrong sizes, another weight format): the caller then prefills itself.
 */
export function installKv(tf: Transformer, state: InferenceState, promptIds: number[], kv: KvHandoff, start: number): Float32Array | null {
  const c = tf.config;
  const dim = kvDim(c);
  const n = promptIds.length - kv.from;
  if (!(Number.isInteger(kv.from) && kv.from >= 0 && n >= 1 && kv.ids.length === n && start >= kv.from && start < promptIds.length)) return null;
  if ((kv.weightFormat ?? "f32") !== tf.ffn[0]!.format) return null; // another engine's numbers (fp32 vs Q8_0)
  for (let i = 0; i < n; i++) if (kv.ids[i] !== promptIds[kv.from + i]) return null;
  let keys: Float32Array, values: Float32Array, logits: Float32Array;
  try {
    keys = f32FromB64(kv.keys);
    values = f32FromB64(kv.values);
    logits = f32FromB64(kv.logits);
  } catch {
    return null;
  }
  if (keys.length !== c.nLayers * n * dim || values.length !== keys.length || logits.length !== c.vocabSize) return null;
  const skip = start - kv.from;
  for (let l = 0; l < c.nLayers; l++) {
    const dst = (l * c.seqLen + start) * dim;
    const src = (l * n + skip) * dim;
    state.keyCache.set(keys.subarray(src, src + (n - skip) * dim), dst);
    state.valueCache.set(values.subarray(src, src + (n - skip) * dim), dst);
  }
  return logits;
}
