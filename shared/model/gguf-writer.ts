// Writes a Llama model as GGUF (version 3 by default; 1 and 2 for compatibility tests).
// Norm vectors stay F32 as llama.cpp writes them; 2-D weights take the requested dtype,
// falling back to F16 where Q8_0's 32-element blocks do not divide the row.
import { kvDim, type ModelConfig } from "./config.ts";
import { GGML_TYPE, Q8_0_BLOCK, quantize } from "./dtypes.ts";
import { GGUF_MAGIC, GGUF_VALUE } from "./gguf.ts";
import type { LoadedModel } from "./weights.ts";
import type { TokenizerData } from "../tokenizer/tokenizer.ts";

export type MetaValue =
  | { type: "u32"; value: number }
  | { type: "bool"; value: boolean }
  | { type: "i32"; value: number }
  | { type: "f32"; value: number }
  | { type: "string"; value: string }
  | { type: "strings"; value: string[] }
  | { type: "f32s"; value: ArrayLike<number> }
  | { type: "i32s"; value: ArrayLike<number> };

export interface GgufTensorInput {
  name: string;
  /** ggml order: [rowLength, rows]. */
  dims: number[];
  data: Float32Array;
  type: number;
  /** The tensor already encoded as `type` (for types this module cannot quantize); `data` is then unused. */
  encoded?: Uint8Array;
}

class Writer {
  private chunks: Uint8Array[] = [];
  size = 0;
  private readonly version: number;
  constructor(version: number) {
    this.version = version;
  }
  bytes(b: Uint8Array) {
    this.chunks.push(b);
    this.size += b.byteLength;
  }
  private num(n: number, set: (dv: DataView) => void) {
    const b = new Uint8Array(n);
    set(new DataView(b.buffer));
    this.bytes(b);
  }
  u32(v: number) { this.num(4, (dv) => dv.setUint32(0, v, true)); }
  i32(v: number) { this.num(4, (dv) => dv.setInt32(0, v, true)); }
  f32(v: number) { this.num(4, (dv) => dv.setFloat32(0, v, true)); }
  u64(v: number) { this.num(8, (dv) => dv.setBigUint64(0, BigInt(v), true)); }
  len(v: number) { if (this.version === 1) this.u32(v); else this.u64(v); }
  str(s: string) {
    const b = new TextEncoder().encode(s);
    this.len(b.byteLength);
    this.bytes(b);
  }
  pad(alignment: number) {
    const n = (alignment - (this.size % alignment)) % alignment;
    if (n) this.bytes(new Uint8Array(n));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.size);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.byteLength;
    }
    return out;
  }
}

export function writeGguf(metadata: [string, MetaValue][], tensors: GgufTensorInput[], version = 3): Uint8Array {
  const alignment = 32;
  const w = new Writer(version);
  w.u32(GGUF_MAGIC);
  w.u32(version);
  w.len(tensors.length);
  w.len(metadata.length);
  for (const [key, v] of metadata) {
    w.str(key);
    switch (v.type) {
      case "u32": w.u32(GGUF_VALUE.UINT32); w.u32(v.value); break;
      case "i32": w.u32(GGUF_VALUE.INT32); w.i32(v.value); break;
      case "bool": w.u32(GGUF_VALUE.BOOL); w.bytes(Uint8Array.of(v.value ? 1 : 0)); break;
      case "f32": w.u32(GGUF_VALUE.FLOAT32); w.f32(v.value); break;
      case "string": w.u32(GGUF_VALUE.STRING); w.str(v.value); break;
      case "strings": w.u32(GGUF_VALUE.ARRAY); w.u32(GGUF_VALUE.STRING); w.len(v.value.length); v.value.forEach((s) => w.str(s)); break;
      case "f32s": w.u32(GGUF_VALUE.ARRAY); w.u32(GGUF_VALUE.FLOAT32); w.len(v.value.length); Array.from(v.value).forEach((x) => w.f32(x)); break;
      case "i32s": w.u32(GGUF_VALUE.ARRAY); w.u32(GGUF_VALUE.INT32); w.len(v.value.length); Array.from(v.value).forEach((x) => w.i32(x)); break;
    }
  }
  const encoded = tensors.map((t) => t.encoded ?? quantize(t.data, t.type));
  let offset = 0;
  tensors.forEach((t, i) => {
    w.str(t.name);
    w.u32(t.dims.length);
    t.dims.forEach((d) => w.len(d));
    w.u32(t.type);
    w.u64(offset);
    offset += Math.ceil(encoded[i]!.byteLength / alignment) * alignment;
  });
  w.pad(alignment);
  for (const e of encoded) {
    w.bytes(e);
    w.pad(alignment);
  }
  return w.concat();
}

/** A whole Llama model (and optionally its tokenizer) as GGUF with 2-D weights in `dtype`. */
export function writeLlamaGguf(
  model: Pick<LoadedModel, "config" | "weights">,
  opts: {
    dtype?: number; tokenizer?: TokenizerData; version?: number; architecture?: string;
    /** Extra keys and tensors (a chat template, RoPE scaling, rope_freqs.weight...). */
    metadata?: [string, MetaValue][]; tensors?: GgufTensorInput[];
    /** Re-encodes each 2-D weight (to write a K-quant mix, as Q4_K_M files have). */
    encodeMatrix?: (t: GgufTensorInput) => GgufTensorInput;
  } = {},
): Uint8Array {
  const c: ModelConfig = model.config;
  const w = model.weights;
  const dtype = opts.dtype ?? GGML_TYPE.F32;
  const arch = opts.architecture ?? "llama";
  const kv = kvDim(c);
  const matrixType = (rowLen: number) => (dtype === GGML_TYPE.Q8_0 && rowLen % Q8_0_BLOCK !== 0 ? GGML_TYPE.F16 : dtype);
  const tensors: GgufTensorInput[] = [];
  const matrix = (name: string, data: Float32Array, rowLen: number, rows: number) =>
    tensors.push((opts.encodeMatrix ?? ((t) => t))({ name, dims: [rowLen, rows], data, type: matrixType(rowLen) }));
  const vector = (name: string, data: Float32Array) => tensors.push({ name, dims: [data.length], data, type: GGML_TYPE.F32 });
  matrix("token_embd.weight", w.tokenEmbedding, c.dim, c.vocabSize);
  w.layers.forEach((l, i) => {
    const b = `blk.${i}.`;
    vector(`${b}attn_norm.weight`, l.attnNorm);
    matrix(`${b}attn_q.weight`, l.wq, c.dim, c.dim);
    matrix(`${b}attn_k.weight`, l.wk, c.dim, kv);
    matrix(`${b}attn_v.weight`, l.wv, c.dim, kv);
    matrix(`${b}attn_output.weight`, l.wo, c.dim, c.dim);
    vector(`${b}ffn_norm.weight`, l.ffnNorm);
    matrix(`${b}ffn_gate.weight`, l.wGate, c.dim, c.hiddenDim);
    matrix(`${b}ffn_down.weight`, l.wDown, c.hiddenDim, c.dim);
    matrix(`${b}ffn_up.weight`, l.wUp, c.dim, c.hiddenDim);
  });
  vector("output_norm.weight", w.finalNorm);
  if (w.classifier !== w.tokenEmbedding) matrix("output.weight", w.classifier, c.dim, c.vocabSize);
  if (opts.tensors) tensors.push(...opts.tensors);

  const meta: [string, MetaValue][] = [
    ["general.architecture", { type: "string", value: arch }],
    [`${arch}.context_length`, { type: "u32", value: c.seqLen }],
    [`${arch}.embedding_length`, { type: "u32", value: c.dim }],
    [`${arch}.block_count`, { type: "u32", value: c.nLayers }],
    [`${arch}.feed_forward_length`, { type: "u32", value: c.hiddenDim }],
    [`${arch}.attention.head_count`, { type: "u32", value: c.nHeads }],
    [`${arch}.attention.head_count_kv`, { type: "u32", value: c.nKvHeads }],
    [`${arch}.rope.freq_base`, { type: "f32", value: c.ropeTheta }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: "f32", value: c.normEps }],
  ];
  if (opts.tokenizer) meta.push(...tokenizerMetadata(opts.tokenizer));
  if (opts.metadata) meta.push(...opts.metadata);
  return writeGguf(meta, tensors, opts.version ?? 3);
}

/** The tokenizer.ggml.* keys of a vocabulary, spelled as llama.cpp's converter writes them. */
export function tokenizerMetadata(t: TokenizerData): [string, MetaValue][] {
  const model = t.model ?? "llama";
  const meta: [string, MetaValue][] = [
    ["tokenizer.ggml.model", { type: "string", value: model }],
    ["tokenizer.ggml.tokens", { type: "strings", value: model === "llama" ? t.pieces.map((p) => p.replaceAll(" ", "\u2581")) : t.pieces }],
  ];
  if (t.pre !== undefined) meta.push(["tokenizer.ggml.pre", { type: "string", value: t.pre }]);
  if (model === "llama") meta.push(["tokenizer.ggml.scores", { type: "f32s", value: t.scores }]);
  if (t.tokenTypes) meta.push(["tokenizer.ggml.token_type", { type: "i32s", value: t.tokenTypes }]);
  if (t.merges) meta.push(["tokenizer.ggml.merges", { type: "strings", value: t.merges }]);
  meta.push(
    ["tokenizer.ggml.bos_token_id", { type: "u32", value: t.bosId }],
    ["tokenizer.ggml.eos_token_id", { type: "u32", value: t.eosId }],
  );
  if (t.padId !== undefined) meta.push(["tokenizer.ggml.padding_token_id", { type: "u32", value: t.padId }]);
  if (t.addBos !== undefined) meta.push(["tokenizer.ggml.add_bos_token", { type: "bool", value: t.addBos }]);
  if (t.addEos !== undefined) meta.push(["tokenizer.ggml.add_eos_token", { type: "bool", value: t.addEos }]);
  return meta;
}
