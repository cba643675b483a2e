// Thousands of test strings for tokenizer comparisons: real prose, code, numbers,
// Unicode scripts, emoji (ZWJ sequences, flags, skin tones), whitespace runs of every
// kind, contractions in both cases, random code points, and special tokens typed as text.
import { Rng } from "../../shared/engine/sampler.ts";
import { readData } from "./model-dir.ts";

const FRAGMENTS = [
  "Hello world", "hello", " HELLO", "I'm", "you'RE", "they'll", "We'VE", "it's", "don't", "DON'T", "o'clock", "'s", "'",
  "function f(x) { return x * 2; }", "const a = [1, 2, 3];\n", "if (a <= b && c != d) {\n\treturn;\n}", "def f():\n    pass\n",
  "<div class=\"x\">&nbsp;</div>", "SELECT * FROM t WHERE id = 42;", "https://example.com/a?b=c&d=e#f", "$HOME/.config", "~/x|y^z",
  "0", "7", "42", "123", "1234", "12345", "123456789", "3.14159", "-0.5e-10", "1,000,000", "2024-01-31", "٣٤٥", "१२३", "Ⅻ", "½",
  "naïve café", "Grüße", "Ελληνικά", "Русский текст", "日本語のテキスト", "中文文本", "한국어", "العربية", "עברית", "हिन्दी", "ไทย",
  "😀", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🏳️‍🌈", "❤️", "🤖 robots", "∑∫√∞", "→←", "€£¥", "©®™",
  " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\t\t  \n", "\u00a0", "\u3000", "\u2028", "\u0085", "\ufeff", "\u200b",
  "<|eot_id|>", "<|begin_of_text|>", "<|start_header_id|>user<|end_header_id|>\n\n", "<|endoftext|>", "<|im_start|>", "</s>", "<s>",
  "<|reserved_special_token_5|>", "<|eot_id", "|>",
];

function randomCodePoint(rng: Rng): string {
  for (;;) {
    const ranges: [number, number][] = [[0x20, 0x7e], [0xa0, 0x24f], [0x370, 0x52f], [0x4e00, 0x9fff], [0x1f300, 0x1faff], [0x0, 0x10ffff]];
    const [a, b] = ranges[rng.nextU32() % ranges.length]!;
    const cp = a + (rng.nextU32() % (b - a + 1));
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    return String.fromCodePoint(cp);
  }
}

/** `count` strings, deterministic for a seed. */
export function tokenizerCorpus(count: number, seed = 1): string[] {
  const rng = new Rng(seed);
  const pick = <T>(xs: T[]) => xs[rng.nextU32() % xs.length]!;
  const prose = [readData("sotu-2016-2019.txt"), readData("tinystories-valid-dev.txt")].map((b) => new TextDecoder().decode(b));
  const out: string[] = [...FRAGMENTS];
  while (out.length < count) {
    const kind = rng.nextU32() % 4;
    let s = "";
    if (kind === 0) {
      // A slice of real prose, up to ~400 characters.
      const text = pick(prose);
      const start = rng.nextU32() % (text.length - 500);
      s = text.slice(start, start + 1 + (rng.nextU32() % 400));
    } else if (kind === 1) {
      const n = 1 + (rng.nextU32() % 8);
      for (let i = 0; i < n; i++) s += pick(FRAGMENTS) + (rng.nextU32() % 3 === 0 ? " " : "");
    } else if (kind === 2) {
      const n = 1 + (rng.nextU32() % 20);
      for (let i = 0; i < n; i++) s += randomCodePoint(rng);
    } else {
      const n = 1 + (rng.nextU32() % 6);
      for (let i = 0; i < n; i++) s += rng.nextU32() % 2 ? pick(FRAGMENTS) : randomCodePoint(rng) + " ".repeat(rng.nextU32() % 4);
    }
    out.push(s);
  }
  return out;
}
