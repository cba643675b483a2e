// Reader for GGUF files (versions 1, 2 and 3) holding Llama-architecture models.
// Version 1 uses 32-bit counts and lengths where versions 2 and 3 use 64-bit ones.
import { ModelFormatError, kvDim, validateConfig, type ModelConfig } from "./config.ts";
import { dequantize, ggmlTypeName, tensorBytes } from "./dtypes.ts";
import type { LayerWeights, LoadedModel } from "./weights.ts";
import type { TokenizerData } from "../tokenizer/tokenizer.ts";

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const DEFAULT_ALIGNMENT = 32;

export const GGUF_VALUE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9,
  UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the innermost (row length). */
  dims: number[];
  type: number;
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: Map<string, GgufTensorInfo>;
  bytes: Uint8Array;
}

class Cursor {
  offset = 0;
  private readonly dv: DataView;
  private readonly bytes: Uint8Array;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  readonly version: number;
  constructor(bytes: Uint8Array, version = 3) {
    this.version = version;
    this.bytes = bytes;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number, what: string): void {
    if (this.offset + n > this.bytes.byteLength) {
      throw new ModelFormatError(`GGUF truncated while reading ${what} at byte ${this.offset} (file has ${this.bytes.byteLength} bytes)`);
    }
  }
  u8() { this.need(1, "u8"); return this.dv.getUint8(this.offset++); }
  u32() { this.need(4, "u32"); const v = this.dv.getUint32(this.offset, true); this.offset += 4; return v; }
  u64(): number {
    this.need(8, "u64");
    const v = this.dv.getBigUint64(this.offset, true);
    this.offset += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ModelFormatError(`GGUF count too large: ${v}`);
    return Number(v);
  }
  /** Counts and lengths: 32-bit in GGUF v1, 64-bit later. */
  len(): number { return this.version === 1 ? this.u32() : this.u64(); }
  str(): string {
    const n = this.len();
    this.need(n, "string");
    const s = this.decoder.decode(this.bytes.subarray(this.offset, this.offset + n));
    this.offset += n;
    return s;
  }
  value(type: number): GgufValue {
    const dv = this.dv;
    const at = (n: number) => { this.need(n, "value"); const o = this.offset; this.offset += n; return o; };
    switch (type) {
      case GGUF_VALUE.UINT8: return dv.getUint8(at(1));
      case GGUF_VALUE.INT8: return dv.getInt8(at(1));
      case GGUF_VALUE.UINT16: return dv.getUint16(at(2), true);
      case GGUF_VALUE.INT16: return dv.getInt16(at(2), true);
      case GGUF_VALUE.UINT32: return dv.getUint32(at(4), true);
      case GGUF_VALUE.INT32: return dv.getInt32(at(4), true);
      case GGUF_VALUE.FLOAT32: return dv.getFloat32(at(4), true);
      case GGUF_VALUE.BOOL: return dv.getUint8(at(1)) !== 0;
      case GGUF_VALUE.STRING: return this.str();
      case GGUF_VALUE.UINT64: return dv.getBigUint64(at(8), true);
      case GGUF_VALUE.INT64: return dv.getBigInt64(at(8), true);
      case GGUF_VALUE.FLOAT64: return dv.getFloat64(at(8), true);
      case GGUF_VALUE.ARRAY: {
        const itemType = this.u32();
        const n = this.len();
        if (n > this.bytes.byteLength) throw new ModelFormatError(`GGUF array length ${n} exceeds the file size`);
        const items: GgufValue[] = new Array(n);
        for (let i = 0; i < n; i++) items[i] = this.value(itemType);
        return items;
      }
      default:
        throw new ModelFormatError(`GGUF metadata value of unknown type ${type} at byte ${this.offset}`);
    }
  }
}

/**
 * Parses a GGUF file's header, metadata and tensor directory (tensor data is not touched).
 * `headerOnly` accepts the file's first bytes alone: tensor sizes and dtypes are not checked.
 */
export function parseGguf(buffer: ArrayBuffer | Uint8Array, opts: { headerOnly?: boolean } = {}): GgufFile {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.byteLength < 8) throw new ModelFormatError(`GGUF truncated: ${bytes.byteLength} bytes`);
  const head = new Cursor(bytes);
  if (head.u32() !== GGUF_MAGIC) throw new ModelFormatError("not a GGUF file (bad magic)");
  const version = head.u32();
  if (version < 1 || version > 3) throw new ModelFormatError(`GGUF version ${version} is not supported (1, 2 or 3)`);
  const c = new Cursor(bytes, version);
  c.offset = head.offset;
  const nTensors = c.len();
  const nKv = c.len();
  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < nKv; i++) {
    const key = c.str();
    metadata.set(key, c.value(c.u32()));
  }
  const infos: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.str();
    const nDims = c.u32();
    if (nDims > 4) throw new ModelFormatError(`tensor ${name}: ${nDims} dimensions (at most 4)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.len());
    const type = c.u32();
    const offset = c.u64();
    infos.push({ name, dims, type, offset });
  }
  const alignment = Number(metadata.get("general.alignment") ?? DEFAULT_ALIGNMENT);
  const dataStart = Math.ceil(c.offset / alignment) * alignment;
  const tensors = new Map<string, GgufTensorInfo>();
  for (const t of infos) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    const abs = dataStart + t.offset;
    if (opts.headerOnly) {
      tensors.set(t.name, { ...t, offset: abs });
      continue;
    }
    const size = tensorBytes(t.type, n, t.name);
    tensorBytes(t.type, t.dims[0] ?? 1, `${t.name} (row)`); // ggml's blocks never straddle rows
    if (abs + size > bytes.byteLength) {
      throw new ModelFormatError(`GGUF truncated: tensor ${t.name} needs bytes ${abs}..${abs + size}, file has ${bytes.byteLength}`);
    }
    tensors.set(t.name, { ...t, offset: abs });
  }
  return { version, metadata, tensors, bytes };
}

function num(meta: Map<string, GgufValue>, key: string, fallback?: number): number {
  const v = meta.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ModelFormatError(`GGUF metadata key ${key} is missing`);
  }
  if (typeof v !== "number" && typeof v !== "bigint") throw new ModelFormatError(`GGUF metadata key ${key} is not a number`);
  return Number(v);
}

const SUPPORTED_ARCHITECTURES = new Set(["llama"]);

/**
 * The KV cache holds this many positions unless asked for more (`--ctx`): a file's
 * context_length (128K for Llama 3.1) would cost gigabytes per session for nothing.
 */
export const DEFAULT_CONTEXT = 4096;

/**
 * RoPE frequency divisors per pair, as llama.cpp applies them: Llama 3.1's rope_freqs
 * tensor, else computed from rope.scaling.* keys ("llama3" as Meta's reference code
 * and llama.cpp's converter do; "linear" divides every frequency by the factor).
 */
function ropeFreqFactors(file: GgufFile, arch: string, half: number, theta: number): number[] | undefined {
  const t = file.tensors.get("rope_freqs.weight");
  if (t) {
    if (t.dims[0] !== half) throw new ModelFormatError(`tensor rope_freqs.weight has ${t.dims[0]} values, expected ${half}`);
    return Array.from(dequantize(file.bytes, t.offset, t.type, half));
  }
  const m = file.metadata;
  const type = m.get(`${arch}.rope.scaling.type`);
  const factor = num(m, `${arch}.rope.scaling.factor`, 1);
  if (type === "linear") return new Array(half).fill(factor);
  if (type !== "llama3") return undefined;
  const low = num(m, `${arch}.rope.scaling.low_freq_factor`, 1);
  const high = num(m, `${arch}.rope.scaling.high_freq_factor`, 4);
  const original = num(m, `${arch}.rope.scaling.original_context_length`, 8192);
  return Array.from({ length: half }, (_, i) => {
    const wavelen = (2 * Math.PI) / Math.pow(theta, -(2 * i) / (2 * half));
    if (wavelen < original / high) return 1;
    if (wavelen > original / low) return factor;
    const smooth = (original / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

export function ggufConfig(file: GgufFile, opts: { maxContext?: number } = {}): ModelConfig {
  const arch = file.metadata.get("general.architecture");
  if (typeof arch !== "string") throw new ModelFormatError("GGUF metadata general.architecture is missing");
  if (!SUPPORTED_ARCHITECTURES.has(arch)) {
    throw new ModelFormatError(`unknown architecture "${arch}" (supported: ${[...SUPPORTED_ARCHITECTURES].join(", ")})`);
  }
  const m = file.metadata;
  const nHeads = num(m, `${arch}.attention.head_count`);
  const emb = file.tensors.get("token_embd.weight");
  const config: ModelConfig = {
    dim: num(m, `${arch}.embedding_length`),
    hiddenDim: num(m, `${arch}.feed_forward_length`),
    nLayers: num(m, `${arch}.block_count`),
    nHeads,
    nKvHeads: num(m, `${arch}.attention.head_count_kv`, nHeads),
    vocabSize: num(m, `${arch}.vocab_size`, emb?.dims[1] ?? 0),
    seqLen: Math.min(num(m, `${arch}.context_length`), opts.maxContext ?? DEFAULT_CONTEXT),
    ropeTheta: num(m, `${arch}.rope.freq_base`, 10000),
    normEps: num(m, `${arch}.attention.layer_norm_rms_epsilon`, 1e-5),
  };
  validateConfig(config);
  const factors = ropeFreqFactors(file, arch, config.dim / config.nHeads / 2, config.ropeTheta);
  return factors ? { ...config, ropeFreqFactors: factors } : config;
}

/** Reads a tensor as fp32 after checking its shape (ggml order: [rowLength, rows]). Exported for the Q8_0 loader. */
export function tensor(file: GgufFile, name: string, shape: number[]): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new ModelFormatError(`GGUF tensor ${name} is missing`);
  const dims = [...t.dims];
  while (dims.length > shape.length && dims.at(-1) === 1) dims.pop(); // [64, 1] is a vector too
  if (dims.length !== shape.length || dims.some((d, i) => d !== shape[i])) {
    throw new ModelFormatError(`tensor ${name} has shape [${t.dims.join(", ")}], expected [${shape.join(", ")}]`);
  }
  return dequantize(file.bytes, t.offset, t.type, shape.reduce((a, b) => a * b, 1));
}

export function readGguf(buffer: ArrayBuffer | Uint8Array, opts: { maxContext?: number } = {}): LoadedModel {
  const file = parseGguf(buffer);
  const config = ggufConfig(file, opts);
  const { dim, hiddenDim: hidden, vocabSize: vocab } = config;
  const kv = kvDim(config);
  const tokenEmbedding = tensor(file, "token_embd.weight", [dim, vocab]);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      attnNorm: tensor(file, `${b}attn_norm.weight`, [dim]),
      wq: tensor(file, `${b}attn_q.weight`, [dim, dim]),
      wk: tensor(file, `${b}attn_k.weight`, [dim, kv]),
      wv: tensor(file, `${b}attn_v.weight`, [dim, kv]),
      wo: tensor(file, `${b}attn_output.weight`, [dim, dim]),
      ffnNorm: tensor(file, `${b}ffn_norm.weight`, [dim]),
      wGate: tensor(file, `${b}ffn_gate.weight`, [dim, hidden]),
      wDown: tensor(file, `${b}ffn_down.weight`, [hidden, dim]),
      wUp: tensor(file, `${b}ffn_up.weight`, [dim, hidden]),
    });
  }
  const finalNorm = tensor(file, "output_norm.weight", [dim]);
  const classifier = file.tensors.has("output.weight") ? tensor(file, "output.weight", [dim, vocab]) : tokenEmbedding;
  const dtypes = [...new Set([...file.tensors.values()].map((t) => ggmlTypeName(t.type)))];
  return {
    config,
    weights: { tokenEmbedding, layers, finalNorm, classifier },
    source: { format: "gguf", version: file.version, dtypes },
  };
}

/** Token texts llama.cpp treats as end of generation wherever a vocabulary has them. */
const EOG_TEXTS = new Set([
  "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
  "<EOT>", "_<EOT>", "<end_of_utterance>",
]);

function optionalId(m: Map<string, GgufValue>, key: string, vocab: number): number | undefined {
  const v = m.get(key);
  if (v === undefined) return undefined;
  const id = Number(v);
  if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new ModelFormatError(`GGUF ${key} = ${String(v)} is not a token id (vocabulary ${vocab})`);
  return id;
}

function optionalBool(m: Map<string, GgufValue>, key: string): boolean | undefined {
  const v = m.get(key);
  return v === undefined ? undefined : Boolean(v);
}

/**
 * The vocabulary embedded in a GGUF file, as the tokenizer's input: SentencePiece (`llama`)
 * or byte-level BPE (`gpt2`) with its merges and pre-tokenizer, token types, the special
 * ids and add_bos/add_eos, defaulted as llama.cpp does when a key is absent.
 */
export function ggufTokenizer(buffer: ArrayBuffer | Uint8Array | GgufFile): TokenizerData {
  const file = "metadata" in buffer ? buffer : parseGguf(buffer);
  const m = file.metadata;
  const model = m.get("tokenizer.ggml.model");
  if (model !== "llama" && model !== "gpt2") {
    throw new ModelFormatError(`GGUF tokenizer model "${String(model)}" is not supported (llama sentencepiece or gpt2 byte-level BPE)`);
  }
  const tokens = m.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens)) throw new ModelFormatError("GGUF metadata tokenizer.ggml.tokens is missing");
  const n = tokens.length;
  // GGUF stores sentencepiece's visible space U+2581; llama2.c's format stores a plain space.
  const pieces = model === "llama" ? tokens.map((t) => String(t).replaceAll("\u2581", " ")) : tokens.map(String);
  const scores = new Float32Array(n);
  const rawScores = m.get("tokenizer.ggml.scores");
  if (Array.isArray(rawScores)) rawScores.forEach((s, i) => (scores[i] = Number(s)));
  const rawTypes = m.get("tokenizer.ggml.token_type");
  const tokenTypes = Array.isArray(rawTypes) ? rawTypes.map(Number) : undefined;
  if (tokenTypes && tokenTypes.length !== n) throw new ModelFormatError(`GGUF token_type has ${tokenTypes.length} entries for ${n} tokens`);
  const merges = m.get("tokenizer.ggml.merges");
  if (model === "gpt2" && !Array.isArray(merges)) throw new ModelFormatError("GGUF metadata tokenizer.ggml.merges is missing (needed by a gpt2 tokenizer)");
  const pre = m.get("tokenizer.ggml.pre");
  const bosId = optionalId(m, "tokenizer.ggml.bos_token_id", n) ?? (model === "llama" ? 1 : 11);
  const eosId = optionalId(m, "tokenizer.ggml.eos_token_id", n) ?? (model === "llama" ? 2 : 11);
  const eog = new Set([eosId]);
  for (const key of ["tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"]) {
    const id = optionalId(m, key, n);
    if (id !== undefined) eog.add(id);
  }
  pieces.forEach((p, id) => {
    if (!EOG_TEXTS.has(p)) return;
    eog.add(id);
    if (tokenTypes) tokenTypes[id] = 3; // llama.cpp makes an end-of-generation token a control token
  });
  const isLlama3 = pre === "llama-bpe" || pre === "llama3" || pre === "llama-v3";
  const padId = optionalId(m, "tokenizer.ggml.padding_token_id", n);
  return {
    pieces,
    scores,
    bosId,
    eosId,
    model,
    ...(model === "gpt2" ? { merges: (merges as GgufValue[]).map(String) } : {}),
    ...(typeof pre === "string" ? { pre } : {}),
    ...(tokenTypes ? { tokenTypes } : {}),
    addBos: optionalBool(m, "tokenizer.ggml.add_bos_token") ?? (model === "llama" || isLlama3),
    addEos: optionalBool(m, "tokenizer.ggml.add_eos_token") ?? false,
    ...(model === "llama" ? { addSpacePrefix: optionalBool(m, "tokenizer.ggml.add_space_prefix") ?? true } : {}),
    eogIds: [...eog].sort((a, b) => a - b),
    ...(padId !== undefined ? { padId } : {}),
  };
}

/** The file's Jinja chat template (tokenizer.chat_template), if it has one. */
export function ggufChatTemplate(file: GgufFile): string | null {
  const t = file.metadata.get("tokenizer.chat_template");
  return typeof t === "string" && t.trim() !== "" ? t : null;
}
