// Real vocabularies from tokenizer packages on npm, as GGUF's tokenizer.ggml.* would hold
// them, and the same vocabularies as Hugging Face tokenizer.json files for
// @huggingface/tokenizers (the reference encoder).
//   Llama 3: llama3-tokenizer-js's 128,000 tokens, merges and 256 special tokens.
//   GPT-2:   gpt-tokenizer's r50k_base ranks (GPT-2's vocabulary), merges derived from the
//            ranks as Hugging Face's tiktoken converter does; <|endoftext|> at 50256.
//   SmolLM:  SmolLM2's pre-tokenizer (digits split one by one) over the GPT-2 vocabulary
//            (SmolLM2's own 49,152-token vocabulary is on no npm package).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import llama3 from "llama3-tokenizer-js";
import { BYTE_TO_CHAR } from "../../shared/tokenizer/byte-level-bpe.ts";
import { TOKEN_TYPE, type TokenizerData } from "../../shared/tokenizer/tokenizer.ts";

export const LLAMA3_BOS = 128000;
export const LLAMA3_EOT = 128009;
export const LLAMA3_END_OF_TEXT = 128001;

let llama3Cache: TokenizerData | null = null;
/** Llama 3.x Instruct's vocabulary as its GGUF files describe it (pre "llama-bpe", EOS <|eot_id|>). */
export function llama3Vocab(): TokenizerData {
  if (llama3Cache) return llama3Cache;
  const pieces = llama3.vocabById.slice();
  // Keys are "left right" in byte-level characters, values the merge's priority.
  const merges = [...llama3.merges.entries()].sort((a, b) => a[1] - b[1]).map(([key]) => key);
  const tokenTypes = pieces.map((_, id) => (id >= LLAMA3_BOS ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL));
  llama3Cache = {
    model: "gpt2", pre: "llama-bpe", pieces, merges, tokenTypes, scores: new Float32Array(pieces.length),
    bosId: LLAMA3_BOS, eosId: LLAMA3_EOT, padId: LLAMA3_EOT, addBos: true,
  };
  return llama3Cache;
}

let gpt2Cache: { pieces: string[]; merges: string[] } | null = null;
/** GPT-2's 50,257 tokens in byte-level characters, with merges derived from tiktoken ranks. */
function gpt2Pieces(): { pieces: string[]; merges: string[] } {
  if (gpt2Cache) return gpt2Cache;
  const require = createRequire(import.meta.url);
  const file = require.resolve("gpt-tokenizer/data/r50k_base.tiktoken");
  const pieces: string[] = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (!line) continue;
    const [b64, rank] = line.split(" ");
    let s = "";
    for (const b of Buffer.from(b64!, "base64")) s += BYTE_TO_CHAR[b];
    pieces[Number(rank)] = s;
  }
  pieces.push("<|endoftext|>");
  // Hugging Face's TikTokenConverter: every split of a token into two tokens is a merge, ranked by the token.
  const rank = new Map(pieces.map((p, i) => [p, i]));
  const merges: string[] = [];
  pieces.forEach((p, r) => {
    if (r >= 50256) return;
    const chars = [...p];
    const local: [number, number, string][] = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join(""), rr = chars.slice(i).join("");
      const a = rank.get(l), b = rank.get(rr);
      if (a !== undefined && b !== undefined) local.push([a, b, `${l} ${rr}`]);
    }
    local.sort((x, y) => x[0] - y[0] || x[1] - y[1]);
    for (const m of local) merges.push(m[2]);
  });
  gpt2Cache = { pieces, merges };
  return gpt2Cache;
}

/** GPT-2's vocabulary with pre-tokenizer "gpt-2" or "smollm"; <|endoftext|> is BOS, EOS and a control token. */
export function gpt2Vocab(pre: "gpt-2" | "smollm" | "default" = "gpt-2"): TokenizerData {
  const { pieces, merges } = gpt2Pieces();
  const tokenTypes = pieces.map((_, id) => (id === 50256 ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.NORMAL));
  return {
    model: "gpt2", pre, pieces, merges, tokenTypes, scores: new Float32Array(pieces.length), bosId: 50256, eosId: 50256,
    addBos: false,
  };
}

const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The tokenizer.json a Hugging Face repository ships for this vocabulary (pre-tokenizers as the real models'). */
export function huggingFaceJson(data: TokenizerData): object {
  const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  const pre =
    data.pre === "llama-bpe"
      ? { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: LLAMA3_REGEX }, behavior: "Isolated", invert: false }, byteLevel(false)] }
      : data.pre === "smollm"
        ? { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, byteLevel(true)] }
        : byteLevel(true);
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  data.pieces.forEach((p, id) => {
    if (data.tokenTypes?.[id] === TOKEN_TYPE.CONTROL) {
      added.push({ id, content: p, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    } else vocab[p] = id;
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: pre,
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false,
      byte_fallback: false, ignore_merges: data.pre === "llama-bpe", vocab, merges: data.merges,
    },
  };
}
