// The pre-tokenizers of byte-level BPE vocabularies, by the name GGUF stores in
// `tokenizer.ggml.pre`. Each is a list of regexes applied in turn, as llama.cpp's
// llama-vocab.cpp does: every regex splits each piece further, keeping both its
// matches and the text between them. The patterns are llama.cpp's, written for
// JavaScript's `u` flag: `\s` is spelled out as Unicode White_Space (JavaScript's
// \s differs on U+0085 and U+FEFF) and `(?i:'s|...)` as character classes.
import { ModelFormatError } from "../model/config.ts";

const WS = String.raw`[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]`;
const NOT_WS = String.raw`[^\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]`;
const WS_CHARS = String.raw`\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000`;

/** GPT-2's pattern (llama.cpp drops the final `|\s+`: the text between matches is kept anyway). */
const GPT2 = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^${WS_CHARS}\p{L}\p{N}]+|${WS}+(?!${NOT_WS})|${WS}+`;

/** Llama 3's pattern, case-insensitive contractions spelled out. */
const LLAMA3 =
  String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}` +
  String.raw`| ?[^${WS_CHARS}\p{L}\p{N}]+[\r\n]*|${WS}*[\r\n]+|${WS}+(?!${NOT_WS})|${WS}+`;

const PATTERNS: Record<string, string[]> = {
  "llama-bpe": [LLAMA3],
  // SmolLM: every digit on its own first (HF's Digits(individual_digits)), then GPT-2's pattern.
  smollm: [String.raw`\p{N}`, GPT2],
  "gpt-2": [GPT2],
  // llama.cpp's fallback for vocabularies it does not recognise.
  default: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2, String.raw`\p{N}+`, "[0-9][0-9][0-9]"],
};
// Names llama.cpp's converter writes for the same patterns.
const ALIASES: Record<string, string> = { llama3: "llama-bpe", "llama-v3": "llama-bpe", gpt2: "gpt-2" };

export const PRE_TOKENIZERS = [...Object.keys(PATTERNS), ...Object.keys(ALIASES)];

export type PreTokenizer = (text: string) => string[];

/** The pre-tokenizer GGUF names (`tokenizer.ggml.pre`); a missing name means llama.cpp's default. */
export function preTokenizer(name: string | undefined): PreTokenizer {
  const key = ALIASES[name ?? "default"] ?? name ?? "default";
  const patterns = PATTERNS[key];
  if (!patterns) throw new ModelFormatError(`GGUF pre-tokenizer "${name}" is not supported (supported: ${PRE_TOKENIZERS.join(", ")})`);
  const regexes = patterns.map((p) => new RegExp(p, "gu"));
  return (text) => {
    let pieces = [text];
    for (const re of regexes) pieces = pieces.flatMap((p) => splitKeeping(p, re));
    return pieces;
  };
}

/** Matches of `re` in `text` and the (non-empty) stretches between them, in order. */
function splitKeeping(text: string, re: RegExp): string[] {
  const out: string[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
