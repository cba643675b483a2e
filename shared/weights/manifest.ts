// The weight store's manifest: what a node reads first. It names every object
// (base blob, FFN neuron shards) with its byte size and sha256, so nothing
// fetched afterwards is used before it matches the manifest.
import { validateConfig, type ModelConfig } from "../model/config.ts";
import { bytesFor, SHARD_DTYPES, type ShardDtype } from "./dtype-codec.ts";

export const MANIFEST_KEY = "manifest.json";
export const MANIFEST_FORMAT = "dart-edge-weights";
/**
 * The version builders write. 2 added dtype "q8_0" (shards and base matrices in Q8_0,
 * q8-codec.ts); version 1 sets (f32/f16/bf16, same layout) still load.
 */
export const MANIFEST_VERSION = 2;
/** The versions this reader understands; any other is refused, never guessed at. */
export const READABLE_MANIFEST_VERSIONS: readonly number[] = [1, 2];

export interface ObjectRef {
  /** Object key, relative to the shard set's root (folder or bucket prefix). */
  key: string;
  bytes: number;
  sha256: string;
}

/** A tensor inside the base blob: `shape` in engine order (rows, columns), rows = outputs. */
export interface TensorRef {
  name: string;
  shape: number[];
  /**
   * Matrices use the manifest dtype; vectors (norms, DART's per-neuron vectors) stay f32, and so
   * does token_embd (the engine reads it as fp32 rows; a tied classifier is quantized at load).
   */
  dtype: ShardDtype;
  /** Byte offset inside the base blob (8-aligned). */
  offset: number;
  bytes: number;
}

/**
 * Slots [first, first + count) of one layer: the neurons neuronOrder[l][first..]
 * (the neurons first.. themselves when the manifest has no order). f32/f16/bf16: three
 * sections, each `count x dim` in the manifest dtype: the gate rows, the up rows, and the
 * down_proj columns stored as rows (the CompactFfn layout). q8_0: per neuron its gate row, up
 * row and down column as int8s, then their block scales (q8-codec.ts).
 */
export interface ShardRef extends ObjectRef {
  first: number;
  count: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** MANIFEST_VERSION when written by this build; 1 for older f32/f16/bf16 sets. */
  version: number;
  config: ModelConfig;
  dtype: ShardDtype;
  neuronsPerShard: number;
  /** The classifier is the token embedding (no separate `output` tensor in the base). */
  tiedClassifier: boolean;
  /**
   * Tensors: token_embd, output_norm, output (untied only), blk.<l>.{attn_norm,
   * attn_q, attn_k, attn_v, attn_output, ffn_norm}, and when `forwardProxy` is
   * true blk.<l>.ffn_gmax and blk.<l>.ffn_gmean (DART's forward-proxy vectors, d_ff each),
   * when `downNorms` is true blk.<l>.ffn_down_norm (L2 norm of each W_down column).
   */
  base: ObjectRef & { tensors: TensorRef[] };
  forwardProxy: boolean;
  downNorms: boolean;
  /** The tokenizer as JSON (TokenizerData: pieces, scores, ids, merges...) (key tokenizer.json), or null. */
  tokenizer: ObjectRef | null;
  /**
   * Per layer, the neuron in each slot (a permutation of 0..hiddenDim-1), or null
   * for the identity. Permuting FFN neurons changes nothing computed; a layout that
   * puts neurons kept together in the same shards makes masks touch fewer shards.
   */
  neuronOrder: number[][] | null;
  /** layers[l][s]: shard s of layer l, covering slots in ascending order. */
  layers: ShardRef[][];
  /** Bytes of all FFN shards together. */
  ffnBytes: number;
}

export class ManifestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

export function shardKey(layer: number, index: number): string {
  return `ffn/${layer}/${index}.bin`;
}

/** Bytes of one shard holding `count` neurons. */
export function shardBytes(dim: number, count: number, dtype: ShardDtype): number {
  return bytesFor(dtype, 3 * count * dim);
}

/** Parses and checks a manifest; every later lookup relies on these invariants. */
export function parseManifest(text: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new ManifestError(`manifest is not JSON: ${(e as Error).message}`);
  }
  if (m?.format !== MANIFEST_FORMAT) throw new ManifestError(`not a ${MANIFEST_FORMAT} manifest (format ${JSON.stringify(m?.format)})`);
  if (!READABLE_MANIFEST_VERSIONS.includes(m.version)) {
    throw new ManifestError(`manifest version ${JSON.stringify(m.version)} is not supported: this build reads versions ${READABLE_MANIFEST_VERSIONS.join(" and ")} (re-shard with this build's dart shard, or update the node)`);
  }
  try {
    validateConfig(m.config);
  } catch (e) {
    throw new ManifestError((e as Error).message);
  }
  if (!SHARD_DTYPES.includes(m.dtype)) throw new ManifestError(`unknown dtype ${JSON.stringify(m.dtype)}`);
  if (m.dtype === "q8_0" && m.version < 2) throw new ManifestError("dtype q8_0 needs manifest version 2 or later");
  if (m.dtype === "q8_0" && m.config.dim % 32 !== 0) throw new ManifestError(`dtype q8_0 needs dim a multiple of 32, got ${m.config.dim}`);
  if (!Number.isInteger(m.neuronsPerShard) || m.neuronsPerShard < 1) throw new ManifestError(`invalid neuronsPerShard ${m.neuronsPerShard}`);
  const { nLayers, hiddenDim } = m.config;
  if (!Array.isArray(m.layers) || m.layers.length !== nLayers) throw new ManifestError(`manifest lists ${m.layers?.length} layers, config has ${nLayers}`);
  const checkRef = (r: ObjectRef, what: string) => {
    if (typeof r?.key !== "string" || !/^[0-9a-f]{64}$/.test(r.sha256) || !Number.isInteger(r.bytes) || r.bytes < 0) {
      throw new ManifestError(`${what}: bad object reference ${JSON.stringify(r)}`);
    }
  };
  checkRef(m.base, "base");
  if (!Array.isArray(m.base.tensors)) throw new ManifestError("base lists no tensors");
  for (const t of m.base.tensors) {
    const n = Array.isArray(t.shape) ? t.shape.reduce((a, b) => a * b, 1) : NaN;
    const fits = SHARD_DTYPES.includes(t.dtype) && (t.dtype !== "q8_0" || (t.shape.length === 2 && t.shape[1]! % 32 === 0)) && t.bytes === bytesFor(t.dtype, n);
    if (!fits || !Number.isInteger(t.offset) || t.offset < 0 || t.offset + t.bytes > m.base.bytes) {
      throw new ManifestError(`base tensor ${t.name}: bad layout ${JSON.stringify(t)}`);
    }
  }
  m.layers.forEach((shards, l) => {
    let next = 0;
    shards.forEach((s, i) => {
      checkRef(s, `layer ${l} shard ${i}`);
      // Shards tile the layer: shard i starts at i * neuronsPerShard, so a neuron's shard is a division.
      if (s.first !== next || s.first !== i * m.neuronsPerShard || s.count < 1 || s.count > m.neuronsPerShard) {
        throw new ManifestError(`layer ${l} shard ${i} covers neurons ${s.first}+${s.count}, breaking the tiling`);
      }
      // Readers cut shards by this size: a shard of another size is a broken manifest, not a fetch error later.
      if (s.bytes !== shardBytes(m.config.dim, s.count, m.dtype)) throw new ManifestError(`layer ${l} shard ${i}: ${s.bytes} bytes, ${s.count} ${m.dtype} neurons take ${shardBytes(m.config.dim, s.count, m.dtype)}`);
      next += s.count;
    });
    if (next !== hiddenDim) throw new ManifestError(`layer ${l} shards cover ${next} neurons, hiddenDim is ${hiddenDim}`);
  });
  m.neuronOrder ??= null;
  m.downNorms ??= false;
  m.tokenizer ??= null;
  if (m.tokenizer) checkRef(m.tokenizer, "tokenizer");
  const names = new Set(m.base.tensors?.map((t) => t.name));
  for (let l = 0; l < nLayers; l++) {
    for (const [flag, suffix] of [[m.forwardProxy, "ffn_gmax"], [m.forwardProxy, "ffn_gmean"], [m.downNorms, "ffn_down_norm"]] as const) {
      if (flag && !names.has(`blk.${l}.${suffix}`)) throw new ManifestError(`base lacks blk.${l}.${suffix}`);
    }
  }
  if (m.neuronOrder !== null) {
    if (!Array.isArray(m.neuronOrder) || m.neuronOrder.length !== nLayers) throw new ManifestError("neuronOrder must list one order per layer");
    m.neuronOrder.forEach((order, l) => {
      const seen = new Uint8Array(hiddenDim);
      if (!Array.isArray(order) || order.length !== hiddenDim) throw new ManifestError(`neuronOrder[${l}] must list ${hiddenDim} neurons`);
      for (const j of order) {
        if (!Number.isInteger(j) || j < 0 || j >= hiddenDim || seen[j]) throw new ManifestError(`neuronOrder[${l}] is not a permutation of 0..${hiddenDim - 1}`);
        seen[j] = 1;
      }
    });
  }
  return m;
}

/** Per layer, the slot of each neuron (the inverse of neuronOrder; identity without one). */
export function neuronSlots(m: Manifest): Int32Array[] {
  const { nLayers, hiddenDim } = m.config;
  return Array.from({ length: nLayers }, (_, l) => {
    const slots = new Int32Array(hiddenDim);
    const order = m.neuronOrder?.[l];
    for (let i = 0; i < hiddenDim; i++) {
      if (order) slots[order[i]!] = i;
      else slots[i] = i;
    }
    return slots;
  });
}
