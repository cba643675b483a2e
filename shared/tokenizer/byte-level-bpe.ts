// Byte-level BPE (GGUF `tokenizer.ggml.model` = "gpt2": Llama 3, SmolLM, GPT-2 and
// their kin). A pre-token's UTF-8 bytes become GPT-2's printable stand-in characters,
// then the adjacent pair with the lowest merge rank is merged until none is left
// (leftmost first on equal ranks), as llama.cpp and Hugging Face tokenizers do.
import { mergePairs } from "./pair-heap.ts";
import { preTokenizer, type PreTokenizer } from "./pre-tokenizers.ts";

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to U+0100 onwards. */
export const BYTE_TO_CHAR: string[] = (() => {
  const out: string[] = new Array(256);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    out[b] = String.fromCharCode(printable ? b : 256 + n++);
  }
  return out;
})();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

/** The bytes a byte-level token stands for, or null when the piece is not byte-level text. */
export function byteLevelBytes(piece: string): Uint8Array | null {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const b = CHAR_TO_BYTE.get(piece[i]!);
    if (b === undefined) return null;
    out[i] = b;
  }
  return out;
}

const CACHE_LIMIT = 50_000;

export class ByteLevelBpe {
  private readonly ids: Map<string, number>;
  /** Rank of each merge, keyed "left right" as GGUF's tokenizer.ggml.merges spells it. */
  private readonly ranks = new Map<string, number>();
  private readonly split: PreTokenizer;
  /** Llama 3 (like tiktoken) takes a pre-token that is itself a token whole, skipping merges. */
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly encoder = new TextEncoder();

  constructor(ids: Map<string, number>, merges: string[], pre: string | undefined) {
    this.ids = ids;
    merges.forEach((m, rank) => {
      if (!this.ranks.has(m)) this.ranks.set(m, rank);
    });
    this.split = preTokenizer(pre);
    this.ignoreMerges = pre === "llama-bpe" || pre === "llama3" || pre === "llama-v3";
  }

  /** Token ids of plain text (no special tokens are recognised here). */
  encode(text: string, out: number[]): void {
    for (const word of this.split(text)) {
      let ids = this.cache.get(word);
      if (!ids) {
        ids = this.encodeWord(word);
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  private encodeWord(word: string): number[] {
    let chars = "";
    for (const b of this.encoder.encode(word)) chars += BYTE_TO_CHAR[b];
    const whole = this.ids.get(chars);
    if (this.ignoreMerges && whole !== undefined) return [whole];
    const out: number[] = [];
    for (const symbol of this.merge([...chars])) {
      const id = this.ids.get(symbol);
      if (id !== undefined) out.push(id);
      // A merge result missing from the vocabulary: fall back to its single characters, as llama.cpp does.
      else for (const c of symbol) out.push(this.ids.get(c) ?? -1);
    }
    if (out.includes(-1)) throw new Error(`byte-level vocabulary lacks a byte of ${JSON.stringify(word)}`);
    return out;
  }

  /** Merges adjacent symbols by rank, lowest first. */
  private merge(symbols: string[]): string[] {
    return mergePairs(symbols, (left, right) => {
      const rank = this.ranks.get(left + " " + right);
      return rank === undefined ? undefined : { score: -rank, merged: left + right };
    });
  }
}
