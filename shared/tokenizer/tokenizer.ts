// The tokenizer of a model: GGUF's two vocabulary kinds behind one interface.
// `llama` is SentencePiece-style BPE compatible with llama2.c's encode/decode (a dummy
// leading space, code points looked up whole, bytes <0xXX> as fallback, greedy merges
// of the best-scoring adjacent pair); `gpt2` is byte-level BPE (byte-level-bpe.ts).
// Special tokens typed in the text are found first, as llama.cpp does: user-defined
// tokens always, control tokens (<|eot_id|>, </s>) when `parseSpecial` is on.
import { ModelFormatError } from "../model/config.ts";
import { ByteLevelBpe, byteLevelBytes } from "./byte-level-bpe.ts";
import { mergePairs } from "./pair-heap.ts";

/** GGUF's tokenizer.ggml.token_type values. */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface TokenizerData {
  /** Token texts; for `llama` with sentencepiece's U+2581 as a plain space, for `gpt2` in byte-level characters. */
  pieces: string[];
  /** Merge scores (`llama`); all zero for `gpt2`. */
  scores: Float32Array;
  bosId: number;
  eosId: number;
  /** GGUF tokenizer.ggml.model: "llama" (the default, also llama2.c's tokenizer.bin) or "gpt2". */
  model?: "llama" | "gpt2";
  /** Byte-level BPE merges in rank order, "left right". */
  merges?: string[];
  /** Pre-tokenizer name (tokenizer.ggml.pre). */
  pre?: string;
  /** TOKEN_TYPE of each token; absent in llama2.c's format (then BOS and EOS are the control tokens). */
  tokenTypes?: number[];
  /** Whether encode() starts with BOS / ends with EOS by default. */
  addBos?: boolean;
  addEos?: boolean;
  /** SentencePiece's dummy space before text (default true). */
  addSpacePrefix?: boolean;
  /** Every id that ends generation: EOS, EOT, EOM and the end-of-turn tokens the vocabulary has. */
  eogIds?: number[];
  padId?: number;
}

/** Byte fallback tokens <0x00>..<0xFF> sit at ids 3..258 in llama's vocabulary. */
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly model: "llama" | "gpt2";
  /** Ids that end generation (EOS and every end-of-turn token). */
  readonly eogIds: ReadonlySet<number>;
  private readonly data: TokenizerData;
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly ids = new Map<string, number>();
  /** UTF-8 bytes of each token as decode emits them; byte tokens map to their byte. */
  private readonly pieceBytes: Uint8Array[];
  /** Token id of each byte value, for byte fallback (-1 if the vocabulary lacks it). */
  private readonly byteIds = new Int32Array(256).fill(-1);
  private readonly bpe: ByteLevelBpe | null;
  /** Special tokens to find in text, longest first: [all of them, only user-defined ones]. */
  private readonly specialRegex: [RegExp | null, RegExp | null];
  private readonly control: Set<number>;

  constructor(data: TokenizerData) {
    this.data = data;
    this.pieces = data.pieces;
    this.scores = data.scores;
    this.vocabSize = data.pieces.length;
    this.bosId = data.bosId;
    this.eosId = data.eosId;
    this.model = data.model ?? "llama";
    this.addBos = data.addBos ?? this.model === "llama";
    this.addEos = data.addEos ?? false;
    this.eogIds = new Set(data.eogIds ?? [data.eosId]);
    const types = data.tokenTypes;
    this.control = new Set(types ? [] : [data.bosId, data.eosId]);
    types?.forEach((t, id) => t === TOKEN_TYPE.CONTROL && this.control.add(id));
    // First occurrence wins, as llama2.c's sorted lookup finds some match; vocabularies have unique pieces.
    data.pieces.forEach((p, id) => {
      if (!this.ids.has(p)) this.ids.set(p, id);
    });
    const enc = new TextEncoder();
    if (this.model === "gpt2") {
      this.bpe = new ByteLevelBpe(this.ids, data.merges ?? [], data.pre);
      this.pieceBytes = data.pieces.map((p, id) => {
        const t = types?.[id] ?? TOKEN_TYPE.NORMAL;
        if (t === TOKEN_TYPE.NORMAL || t === TOKEN_TYPE.BYTE) return byteLevelBytes(p) ?? enc.encode(p);
        return enc.encode(p);
      });
    } else {
      this.bpe = null;
      this.pieceBytes = data.pieces.map((p, id) => {
        const m = BYTE_TOKEN.exec(p);
        if (m && (types?.[id] ?? TOKEN_TYPE.BYTE) === TOKEN_TYPE.BYTE) {
          const b = parseInt(m[1]!, 16);
          if (this.byteIds[b] === -1) this.byteIds[b] = id;
          return Uint8Array.of(b);
        }
        return enc.encode(p);
      });
    }
    const special = (keep: (t: number) => boolean): RegExp | null => {
      const texts = data.pieces.filter((p, id) => p.length > 0 && keep(types?.[id] ?? TOKEN_TYPE.NORMAL));
      if (texts.length === 0) return null;
      texts.sort((a, b) => b.length - a.length);
      return new RegExp(texts.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|"), "gu");
    };
    this.specialRegex = [
      special((t) => t === TOKEN_TYPE.CONTROL || t === TOKEN_TYPE.USER_DEFINED),
      special((t) => t === TOKEN_TYPE.USER_DEFINED),
    ];
  }

  /** The data this tokenizer was built from (to store it with a shard set). */
  toData(): TokenizerData {
    return this.data;
  }

  piece(id: number): string {
    return this.pieces[id] ?? "";
  }

  /** The id of a token's exact text, if the vocabulary has it. */
  tokenId(text: string): number | undefined {
    return this.ids.get(text);
  }

  /** Control tokens (BOS, EOS, <|eot_id|>...) decode to nothing. */
  isControl(id: number): boolean {
    return this.control.has(id);
  }

  /**
   * Encodes text as llama.cpp does: BOS (when the file says so, or as `bos` asks), special
   * tokens typed in the text, each stretch of plain text by the vocabulary's BPE, EOS likewise.
   */
  encode(text: string, opts: { bos?: boolean; eos?: boolean; parseSpecial?: boolean } = {}): number[] {
    const out: number[] = [];
    if (opts.bos ?? this.addBos) out.push(this.bosId);
    const re = this.specialRegex[opts.parseSpecial === false ? 1 : 0];
    let last = 0;
    let afterSpecial = true;
    const plain = (s: string) => {
      if (s.length === 0) return;
      if (this.bpe) this.bpe.encode(s, out);
      else this.encodeSentencePiece(s, afterSpecial, out);
      afterSpecial = false;
    };
    if (re) {
      for (const m of text.matchAll(re)) {
        plain(text.slice(last, m.index));
        out.push(this.ids.get(m[0])!);
        afterSpecial = true;
        last = m.index + m[0].length;
      }
    }
    plain(text.slice(last));
    if (opts.eos ?? this.addEos) out.push(this.eosId);
    return out;
  }

  /** llama2.c's encode: a dummy space at the start (and after a special token), code points, byte fallback, merges. */
  private encodeSentencePiece(text: string, prefixSpace: boolean, out: number[]): void {
    const symbols: number[] = [];
    const dummy = this.ids.get(" ");
    if (prefixSpace && dummy !== undefined && (this.data.addSpacePrefix ?? true)) symbols.push(dummy);
    const enc = new TextEncoder();
    for (const ch of text) {
      const id = this.ids.get(ch);
      if (id !== undefined) {
        symbols.push(id);
        continue;
      }
      for (const b of enc.encode(ch)) {
        const bid = this.byteIds[b]!;
        if (bid < 0) throw new Error(`tokenizer has no byte token for 0x${b.toString(16)}`);
        symbols.push(bid);
      }
    }
    for (const id of this.merge(symbols)) out.push(id);
  }
  /**
   * Repeatedly merges the adjacent pair whose concatenation is a token with the
   * highest score (leftmost on ties), exactly like llama2.c's quadratic loop,
   * but with a heap over a linked list so long texts stay fast.
   */
  private merge(symbols: number[]): number[] {
    return mergePairs(symbols, (left, right) => {
      const merged = this.ids.get(this.pieces[left]! + this.pieces[right]!);
      return merged === undefined ? undefined : { score: this.scores[merged]!, merged };
    });
  }

  /** UTF-8 bytes of one token given the token before it (SentencePiece: a space after BOS is dropped, as llama2.c does). */
  tokenBytes(id: number, prevId: number): Uint8Array {
    const bytes = this.pieceBytes[id];
    if (!bytes) return new Uint8Array(0);
    if (!this.bpe && prevId === this.bosId && bytes[0] === 0x20) return bytes.subarray(1);
    return bytes;
  }

  /** Decodes ids (control tokens are skipped). The first token is treated as following BOS. */
  decode(ids: number[]): string {
    const d = new StreamDecoder(this);
    let s = "";
    for (const id of ids) s += d.push(id);
    return s + d.flush();
  }
}

/** Incremental decoder: yields text as soon as its UTF-8 bytes are complete. */
export class StreamDecoder {
  private prev: number;
  private readonly utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }); // U+FEFF is text here, not a marker
  private readonly tok: Tokenizer;
  constructor(tok: Tokenizer, prevId = tok.bosId) {
    this.tok = tok;
    this.prev = prevId;
  }
  push(id: number): string {
    const prev = this.prev;
    this.prev = id;
    if (this.tok.isControl(id)) return "";
    return this.utf8.decode(this.tok.tokenBytes(id, prev), { stream: true });
  }
  flush(): string {
    return this.utf8.decode();
  }
}

/** Reads llama2.c's tokenizer.bin: int32 max token length, then per token f32 score, int32 length, bytes. */
export function readLlama2cTokenizer(buffer: ArrayBuffer | Uint8Array, vocabSize?: number): TokenizerData {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dec = new TextDecoder("utf-8");
  const pieces: string[] = [];
  const scores: number[] = [];
  let off = 4;
  if (bytes.byteLength < 4) throw new ModelFormatError("tokenizer file truncated: no header");
  while (off < bytes.byteLength && (vocabSize === undefined || pieces.length < vocabSize)) {
    if (off + 8 > bytes.byteLength) throw new ModelFormatError(`tokenizer file truncated at token ${pieces.length}`);
    scores.push(dv.getFloat32(off, true));
    const len = dv.getInt32(off + 4, true);
    off += 8;
    if (len < 0 || off + len > bytes.byteLength) throw new ModelFormatError(`tokenizer file truncated at token ${pieces.length}`);
    pieces.push(dec.decode(bytes.subarray(off, off + len)));
    off += len;
  }
  if (vocabSize !== undefined && pieces.length < vocabSize) {
    throw new ModelFormatError(`tokenizer has ${pieces.length} tokens, the model needs ${vocabSize}`);
  }
  return { pieces, scores: Float32Array.from(scores), bosId: 1, eosId: 2 };
}

/** TokenizerData as JSON (the shard set's tokenizer.json), every field kept. */
export function tokenizerDataToJson(data: TokenizerData): string {
  return JSON.stringify({ ...data, scores: Array.from(data.scores) });
}

export function tokenizerDataFromJson(json: string): TokenizerData {
  const t = JSON.parse(json) as Omit<TokenizerData, "scores"> & { scores: number[] };
  return { ...t, scores: Float32Array.from(t.scores) };
}
