// Cuts a loaded model into a base blob and per-layer FFN neuron shards, handing
// each object to a sink (a folder, an R2 bucket, memory) and returning the manifest.
import { kvDim } from "../model/config.ts";
import type { LoadedModel } from "../model/weights.ts";
import { tokenizerDataToJson, type TokenizerData } from "../tokenizer/tokenizer.ts";
import { bytesPerElement, encodeInto, shardDtypeFor, type ShardDtype } from "./dtype-codec.ts";
import { sha256Hex } from "./hash.ts";
import {
  MANIFEST_FORMAT, MANIFEST_VERSION, shardBytes, shardKey,
  type Manifest, type ObjectRef, type ShardRef, type TensorRef,
} from "./manifest.ts";

export const BASE_KEY = "base.bin";
export const TOKENIZER_KEY = "tokenizer.json";

/** DART's forward proxy (shared/dart/forward-proxy.ts computes it): per layer, d_ff values each. */
export interface ForwardProxy {
  gMax: Float32Array[];
  gMean: Float32Array[];
}

export interface BuildOptions {
  neuronsPerShard: number;
  /** Defaults to the model's own dtype when that round-trips exactly (f32 for stories260K). */
  dtype?: ShardDtype;
  forwardProxy?: ForwardProxy;
  /** Per layer, the L2 norm of each W_down column (d_ff values): DART priors need it and it spans all shards. */
  downNorms?: Float32Array[];
  /** Per layer, the neuron to store in each slot (a permutation); default: neuron i in slot i. */
  order?: Int32Array[];
  /** Stored as tokenizer.json so a node needs nothing but the store. */
  tokenizer?: TokenizerData;
}

export type ObjectSink = (key: string, bytes: Uint8Array) => Promise<void>;

const align8 = (n: number) => (n + 7) & ~7;

function baseTensors(model: LoadedModel, proxy: ForwardProxy | undefined, downNorms: Float32Array[] | undefined): { name: string; shape: number[]; data: Float32Array }[] {
  const { config: c, weights: w } = model;
  const kv = kvDim(c);
  const out = [{ name: "token_embd", shape: [c.vocabSize, c.dim], data: w.tokenEmbedding }];
  w.layers.forEach((lw, l) => {
    out.push(
      { name: `blk.${l}.attn_norm`, shape: [c.dim], data: lw.attnNorm },
      { name: `blk.${l}.attn_q`, shape: [c.dim, c.dim], data: lw.wq },
      { name: `blk.${l}.attn_k`, shape: [kv, c.dim], data: lw.wk },
      { name: `blk.${l}.attn_v`, shape: [kv, c.dim], data: lw.wv },
      { name: `blk.${l}.attn_output`, shape: [c.dim, c.dim], data: lw.wo },
      { name: `blk.${l}.ffn_norm`, shape: [c.dim], data: lw.ffnNorm },
    );
    if (proxy) {
      out.push({ name: `blk.${l}.ffn_gmax`, shape: [c.hiddenDim], data: proxy.gMax[l]! });
      out.push({ name: `blk.${l}.ffn_gmean`, shape: [c.hiddenDim], data: proxy.gMean[l]! });
    }
    if (downNorms) out.push({ name: `blk.${l}.ffn_down_norm`, shape: [c.hiddenDim], data: downNorms[l]! });
  });
  out.push({ name: "output_norm", shape: [c.dim], data: w.finalNorm });
  if (w.classifier !== w.tokenEmbedding) out.push({ name: "output", shape: [c.vocabSize, c.dim], data: w.classifier });
  for (const t of out) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== n) throw new RangeError(`tensor ${t.name} has ${t.data.length} values, expected ${n}`);
  }
  return out;
}

/** Encodes the given neurons of one layer, in that order, as a shard: gate rows | up rows | down columns. */
export function encodeShard(model: LoadedModel, layer: number, neurons: ArrayLike<number>, dtype: ShardDtype): Uint8Array {
  const count = neurons.length;
  const { dim, hiddenDim } = model.config;
  const lw = model.weights.layers[layer]!;
  const bpe = bytesPerElement(dtype);
  const out = new Uint8Array(shardBytes(dim, count, bpe));
  const section = count * dim * bpe;
  const col = new Float32Array(dim);
  for (let i = 0; i < count; i++) {
    const j = neurons[i]!;
    encodeInto(lw.wGate.subarray(j * dim, (j + 1) * dim), dtype, out, i * dim * bpe);
    encodeInto(lw.wUp.subarray(j * dim, (j + 1) * dim), dtype, out, section + i * dim * bpe);
    for (let d = 0; d < dim; d++) col[d] = lw.wDown[d * hiddenDim + j]!;
    encodeInto(col, dtype, out, 2 * section + i * dim * bpe);
  }
  return out;
}

async function put(sink: ObjectSink, key: string, bytes: Uint8Array): Promise<ObjectRef> {
  const sha256 = await sha256Hex(bytes);
  await sink(key, bytes);
  return { key, bytes: bytes.byteLength, sha256 };
}

/** Writes base and shards through `sink` (the manifest too, last) and returns the manifest. */
export async function buildShardSet(model: LoadedModel, opts: BuildOptions, sink: ObjectSink): Promise<Manifest> {
  const { config: c } = model;
  const n = opts.neuronsPerShard;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`neuronsPerShard must be a positive integer, got ${n}`);
  const dtype = opts.dtype ?? shardDtypeFor(model.source.dtypes);
  const order = opts.order?.map((o) => Array.from(o)) ?? null;
  order?.forEach((o, l) => {
    const seen = new Set(o);
    if (o.length !== c.hiddenDim || seen.size !== c.hiddenDim || o.some((j) => !(j >= 0 && j < c.hiddenDim))) {
      throw new RangeError(`order for layer ${l} is not a permutation of 0..${c.hiddenDim - 1}`);
    }
  });
  if (order && order.length !== c.nLayers) throw new RangeError(`order lists ${order.length} layers, the model ${c.nLayers}`);
  const bpe = bytesPerElement(dtype);

  const tensors = baseTensors(model, opts.forwardProxy, opts.downNorms);
  const refs: TensorRef[] = [];
  let size = 0;
  for (const t of tensors) {
    const tdtype: ShardDtype = t.shape.length === 1 ? "f32" : dtype; // GGUF keeps vectors f32 too
    const bytes = t.data.length * bytesPerElement(tdtype);
    refs.push({ name: t.name, shape: t.shape, dtype: tdtype, offset: size, bytes });
    size = align8(size + bytes);
  }
  const base = new Uint8Array(size);
  tensors.forEach((t, i) => encodeInto(t.data, refs[i]!.dtype, base, refs[i]!.offset));
  const baseRef = await put(sink, BASE_KEY, base);
  const tok = opts.tokenizer;
  const tokenizerRef = tok
    ? await put(sink, TOKENIZER_KEY, new TextEncoder().encode(tokenizerDataToJson(tok)))
    : null;

  const layers: ShardRef[][] = [];
  let ffnBytes = 0;
  for (let l = 0; l < c.nLayers; l++) {
    const shards: ShardRef[] = [];
    for (let first = 0, s = 0; first < c.hiddenDim; first += n, s++) {
      const count = Math.min(n, c.hiddenDim - first);
      const ids = order ? order[l]!.slice(first, first + count) : Array.from({ length: count }, (_, i) => first + i);
      const ref = await put(sink, shardKey(l, s), encodeShard(model, l, ids, dtype));
      shards.push({ ...ref, first, count });
      ffnBytes += ref.bytes;
    }
    layers.push(shards);
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    config: { ...c },
    dtype,
    neuronsPerShard: n,
    tiedClassifier: model.weights.classifier === model.weights.tokenEmbedding,
    base: { ...baseRef, tensors: refs },
    forwardProxy: opts.forwardProxy !== undefined,
    downNorms: opts.downNorms !== undefined,
    tokenizer: tokenizerRef,
    neuronOrder: order,
    layers,
    ffnBytes,
  };
  await sink("manifest.json", new TextEncoder().encode(JSON.stringify(manifest, null, 1)));
  return manifest;
}
