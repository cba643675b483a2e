// Cuts a loaded model into a base blob and per-layer FFN neuron shards, handing
// each object to a sink (a folder, an R2 bucket, memory) and returning the manifest.
import { kvDim } from "../model/config.ts";
import { isQ8 } from "../model/q8.ts";
import type { LoadedModel } from "../model/weights.ts";
import type { EngineWeights, Matrix } from "../engine/engine-weights.ts";
import { FfnBundles } from "../engine/ffn-bundles.ts";
import { quantizeEngineWeights } from "../engine/quantize-weights.ts";
import { tokenizerDataToJson, type TokenizerData } from "../tokenizer/tokenizer.ts";
import { bytesFor, encodeInto, shardDtypeFor, type FloatDtype, type ShardDtype } from "./dtype-codec.ts";
import { encodeQ8Matrix, encodeQ8Shard } from "./q8-codec.ts";
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

/** A model in Q8_0 as the engine's --weights q8_0 holds it: its matrices and its neuron-major FFN bundles. */
export interface Q8Weights {
  weights: EngineWeights;
  ffn: FfnBundles[];
}

/**
 * The model in Q8_0 exactly as `--weights q8_0` quantizes it at load (quantizeEngineWeights and
 * FfnBundles.fromDense, the same quantizer), so shard-loaded and file-loaded weights are identical.
 */
export function quantizeForShards(model: Pick<LoadedModel, "config" | "weights">): Q8Weights {
  const c = model.config;
  return {
    weights: quantizeEngineWeights(model.weights, c),
    ffn: model.weights.layers.map((l) => FfnBundles.fromDense(l, c.dim, c.hiddenDim, undefined, "q8_0")),
  };
}

export interface BuildOptions {
  neuronsPerShard: number;
  /** Defaults to the model's own dtype when that round-trips exactly (f32 for stories260K). */
  dtype?: ShardDtype;
  /**
   * dtype q8_0: the Q8_0 weights to store as they are (a GGUF q8_0 file's, ../engine/q8-model.ts);
   * default: `model` quantized once here (quantizeForShards).
   */
  q8?: Q8Weights;
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

interface BaseTensor {
  name: string;
  shape: number[];
  data: Matrix;
}

/** The base blob's tensors; with `q8`, its matrices (attention, untied classifier) in Q8_0. */
function baseTensors(model: LoadedModel, proxy: ForwardProxy | undefined, downNorms: Float32Array[] | undefined, q8?: EngineWeights): BaseTensor[] {
  const { config: c } = model;
  const w = q8 ?? model.weights;
  const kv = kvDim(c);
  const out: BaseTensor[] = [{ name: "token_embd", shape: [c.vocabSize, c.dim], data: model.weights.tokenEmbedding }];
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
  if (!tiedClassifier(model)) out.push({ name: "output", shape: [c.vocabSize, c.dim], data: w.classifier });
  for (const t of out) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const len = isQ8(t.data) ? t.data.rows * t.data.cols : t.data.length;
    if (len !== n) throw new RangeError(`tensor ${t.name} has ${len} values, expected ${n}`);
  }
  return out;
}

const tiedClassifier = (model: LoadedModel) => model.weights.classifier === model.weights.tokenEmbedding;

/** Encodes the given neurons of one layer, in that order, as a shard: gate rows | up rows | down columns. */
export function encodeShard(model: LoadedModel, layer: number, neurons: ArrayLike<number>, dtype: FloatDtype): Uint8Array {
  const count = neurons.length;
  const { dim, hiddenDim } = model.config;
  const lw = model.weights.layers[layer]!;
  const bpe = bytesFor(dtype, 1);
  const out = new Uint8Array(shardBytes(dim, count, dtype));
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
  const q8 = dtype === "q8_0" ? (opts.q8 ?? quantizeForShards(model)) : null;
  if (q8 && (q8.ffn.length !== c.nLayers || q8.ffn.some((b) => b.format !== "q8_0" || !b.full))) throw new RangeError("q8 must hold every FFN neuron of every layer in Q8_0");

  const tensors = baseTensors(model, opts.forwardProxy, opts.downNorms, q8?.weights);
  const refs: TensorRef[] = [];
  let size = 0;
  for (const t of tensors) {
    // GGUF keeps vectors f32 too; the embedding is read as fp32 rows (q8_0 matrices are Q8 already).
    const tdtype: ShardDtype = isQ8(t.data) ? "q8_0" : t.shape.length === 1 || dtype === "q8_0" ? "f32" : dtype;
    const bytes = bytesFor(tdtype, t.shape.reduce((a, b) => a * b, 1));
    refs.push({ name: t.name, shape: t.shape, dtype: tdtype, offset: size, bytes });
    size = align8(size + bytes);
  }
  const base = new Uint8Array(size);
  tensors.forEach((t, i) => {
    const r = refs[i]!;
    if (isQ8(t.data)) encodeQ8Matrix(t.data, base, r.offset);
    else encodeInto(t.data, r.dtype as FloatDtype, base, r.offset);
  });
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
      const bytes = q8 ? encodeQ8Shard(q8.ffn[l]!, ids) : encodeShard(model, l, ids, dtype as FloatDtype);
      const ref = await put(sink, shardKey(l, s), bytes);
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
    tiedClassifier: tiedClassifier(model),
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
