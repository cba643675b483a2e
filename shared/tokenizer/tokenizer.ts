// Sentencepiece-style BPE tokenizer compatible with llama2.c's encode/decode:
// a BOS token, a dummy leading space, code points looked up whole, bytes
// <0xXX> as fallback, then greedy merges of the best-scoring adjacent pair.
import { ModelFormatError } from "../model/config.ts";

export interface TokenizerData {
  pieces: string[];
  scores: Float32Array;
  bosId: number;
  eosId: number;
}

/** Byte fallback tokens <0x00>..<0xFF> sit at ids 3..258 in llama's vocabulary. */
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

export class Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  private readonly pieces: string[];
  private readonly scores: Float32Array;
  private readonly ids = new Map<string, number>();
  /** UTF-8 bytes of each token as decode emits them; byte tokens map to their byte. */
  private readonly pieceBytes: Uint8Array[];
  /** Token id of each byte value, for byte fallback (-1 if the vocabulary lacks it). */
  private readonly byteIds = new Int32Array(256).fill(-1);

  constructor(data: TokenizerData) {
    this.pieces = data.pieces;
    this.scores = data.scores;
    this.vocabSize = data.pieces.length;
    this.bosId = data.bosId;
    this.eosId = data.eosId;
    const enc = new TextEncoder();
    this.pieceBytes = data.pieces.map((p, id) => {
      const m = BYTE_TOKEN.exec(p);
      if (m) {
        const b = parseInt(m[1]!, 16);
        if (this.byteIds[b] === -1) this.byteIds[b] = id;
        return Uint8Array.of(b);
      }
      return enc.encode(p);
    });
    // First occurrence wins, as llama2.c's sorted lookup finds some match; vocabularies have unique pieces.
    data.pieces.forEach((p, id) => {
      if (!this.ids.has(p)) this.ids.set(p, id);
    });
  }

  piece(id: number): string {
    return this.pieces[id] ?? "";
  }

  /** Encodes text as llama2.c does: optional BOS, a dummy space prefix for non-empty text, BPE merges, optional EOS. */
  encode(text: string, opts: { bos?: boolean; eos?: boolean } = {}): number[] {
    const out: number[] = [];
    if (opts.bos ?? true) out.push(this.bosId);
    if (text.length > 0) {
      const symbols: number[] = [];
      const dummy = this.ids.get(" ");
      if (dummy !== undefined) symbols.push(dummy);
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
    if (opts.eos) out.push(this.eosId);
    return out;
  }

  /**
   * Repeatedly merges the adjacent pair whose concatenation is a token with the
   * highest score (leftmost on ties), exactly like llama2.c's quadratic loop,
   * but with a heap over a linked list so long texts stay fast.
   */
  private merge(symbols: number[]): number[] {
    const n = symbols.length;
    if (n < 2) return symbols;
    const tok = Int32Array.from(symbols);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new PairHeap();
    const consider = (left: number) => {
      const right = next[left]!;
      if (left < 0 || right < 0) return;
      const merged = this.ids.get(this.pieces[tok[left]!]! + this.pieces[tok[right]!]!);
      if (merged !== undefined) heap.push(this.scores[merged]!, left, tok[left]!, tok[right]!, merged);
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    while (heap.size > 0) {
      const e = heap.pop();
      const right = next[e.left]!;
      // Skip entries made stale by an earlier merge of either side.
      if (!alive[e.left] || right < 0 || tok[e.left] !== e.leftTok || tok[right] !== e.rightTok) continue;
      tok[e.left] = e.merged;
      alive[right] = 0;
      next[e.left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = e.left;
      consider(e.left);
      if (prev[e.left]! >= 0) consider(prev[e.left]!);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(tok[i]!);
    return out;
  }

  /** UTF-8 bytes of one token given the token before it (a space after BOS is dropped, as llama2.c does). */
  tokenBytes(id: number, prevId: number): Uint8Array {
    const bytes = this.pieceBytes[id];
    if (!bytes) return new Uint8Array(0);
    if (prevId === this.bosId && bytes[0] === 0x20) return bytes.subarray(1);
    return bytes;
  }

  /** Decodes ids (BOS/EOS are skipped). The first token is treated as following BOS. */
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
  private readonly utf8 = new TextDecoder("utf-8");
  private readonly tok: Tokenizer;
  constructor(tok: Tokenizer, prevId = tok.bosId) {
    this.tok = tok;
    this.prev = prevId;
  }
  push(id: number): string {
    const prev = this.prev;
    this.prev = id;
    if (id === this.tok.bosId || id === this.tok.eosId) return "";
    return this.utf8.decode(this.tok.tokenBytes(id, prev), { stream: true });
  }
  flush(): string {
    return this.utf8.decode();
  }
}

interface HeapEntry {
  score: number;
  left: number;
  leftTok: number;
  rightTok: number;
  merged: number;
}

/** Max-heap on score, then min on position (the leftmost pair wins ties). */
class PairHeap {
  private readonly items: HeapEntry[] = [];
  get size(): number {
    return this.items.length;
  }
  private better(a: HeapEntry, b: HeapEntry): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(score: number, left: number, leftTok: number, rightTok: number, merged: number): void {
    const items = this.items;
    items.push({ score, left, leftTok, rightTok, merged });
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(items[i]!, items[p]!)) break;
      [items[i], items[p]] = [items[p]!, items[i]!];
      i = p;
    }
  }
  pop(): HeapEntry {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.better(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.better(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
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
