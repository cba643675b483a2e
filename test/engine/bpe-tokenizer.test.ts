// Byte-level BPE vocabularies read from GGUF metadata encode exactly as well-kept libraries
// do, on real vocabularies (Llama 3's 128K, GPT-2's 50K) over thousands of strings.
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { encode as gpt2Encode } from "gpt-tokenizer/encoding/r50k_base";
import llama3 from "llama3-tokenizer-js";
import { describe, expect, it } from "vitest";
import { parseGguf, ggufTokenizer } from "../../shared/model/gguf.ts";
import { tokenizerMetadata, writeGguf, type MetaValue } from "../../shared/model/gguf-writer.ts";
import { preTokenizer } from "../../shared/tokenizer/pre-tokenizers.ts";
import { Tokenizer, TOKEN_TYPE, type TokenizerData } from "../../shared/tokenizer/tokenizer.ts";
import { gpt2Vocab, huggingFaceJson, llama3Vocab, LLAMA3_BOS, LLAMA3_END_OF_TEXT, LLAMA3_EOT } from "../helpers/real-vocab.ts";
import { tokenizerCorpus } from "../helpers/tokenizer-corpus.ts";

const CORPUS = tokenizerCorpus(3000);
// The JavaScript references split with JavaScript's \s, which counts U+FEFF as whitespace and
// U+0085 not; Unicode's White_Space (llama.cpp, tiktoken, Rust tokenizers, and this code) is
// the reverse. tokenizers.js's Digits also splits ASCII digits only, where Rust's uses
// char::is_numeric and llama.cpp \p{N}. Strings with those characters are compared to the
// Unicode definition in their own test below instead.
const JS_WHITESPACE_DIFFERS = /[\u0085\ufeff]/;
const NON_ASCII_DIGIT = /(?![0-9])\p{N}/u;
const COMPARABLE = CORPUS.filter((s) => !JS_WHITESPACE_DIFFERS.test(s));
const COMPARABLE_DIGITS = COMPARABLE.filter((s) => !NON_ASCII_DIGIT.test(s));

/** gpt-tokenizer's r50k_base, with <|endoftext|> typed in the text taken as the special token. */
function gpt2Reference(s: string): number[] {
  return s.split("<|endoftext|>").flatMap((part, i) => [...(i > 0 ? [50256] : []), ...gpt2Encode(part)]);
}

/** The vocabulary written as GGUF metadata and read back, as a model file would carry it. */
function throughGguf(data: TokenizerData, extra: [string, MetaValue][] = []): Tokenizer {
  return new Tokenizer(ggufTokenizer(parseGguf(writeGguf([["general.architecture", { type: "string", value: "llama" }], ...tokenizerMetadata(data), ...extra], []))));
}

function firstMismatch(strings: string[], ours: (s: string) => number[], theirs: (s: string) => number[]) {
  for (const s of strings) {
    const a = ours(s), b = theirs(s);
    if (a.length !== b.length || a.some((x, i) => x !== b[i])) return { text: s, ours: a, theirs: b };
  }
  return null;
}

const LLAMA3 = throughGguf(llama3Vocab());

describe("Llama 3 (pre-tokenizer llama-bpe, 128,256 tokens)", () => {
  const tok = LLAMA3;
  const hf = new HfTokenizer(huggingFaceJson(llama3Vocab()), {});

  it("reads the ids, flags and end-of-generation set from GGUF", () => {
    expect(tok.model).toBe("gpt2");
    expect(tok.vocabSize).toBe(128256);
    expect(tok.bosId).toBe(LLAMA3_BOS);
    expect(tok.addBos).toBe(true);
    // EOS <|eot_id|>, and <|eom_id|> by its text, as llama.cpp decides; <|end_of_text|> is not one of its texts.
    expect([...tok.eogIds].sort()).toEqual([LLAMA3_EOT, 128008].sort());
    expect(tok.encode("Hi")).toEqual([LLAMA3_BOS, 13347]);
    expect(tok.encode("Hi", { bos: false, eos: true })).toEqual([13347, LLAMA3_EOT]);
  });

  it("encodes 3000 strings exactly as llama3-tokenizer-js and @huggingface/tokenizers", () => {
    expect(COMPARABLE.length).toBeGreaterThan(2800);
    const ours = (s: string) => tok.encode(s, { bos: false });
    expect(firstMismatch(COMPARABLE, ours, (s) => llama3.encode(s, { bos: false, eos: false }))).toBeNull();
    expect(firstMismatch(COMPARABLE, ours, (s) => hf.encode(s, { add_special_tokens: false }).ids)).toBeNull();
  });

  it("control tokens typed as text are special only when parseSpecial is on", () => {
    const text = "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";
    expect(tok.encode(text, { bos: false })).toEqual([128006, 882, 128007, 271, 13347, LLAMA3_EOT]);
    const plain = tok.encode(text, { bos: false, parseSpecial: false });
    expect(plain).toEqual(llama3.encode(text, { bos: false, eos: false, specialTokenRegex: /(?!)/g } as never));
    expect(plain.some((id) => id >= LLAMA3_BOS)).toBe(false);
  });

  it("decodes every string back, skipping control tokens", () => {
    for (const s of CORPUS.slice(0, 1000)) expect(tok.decode(tok.encode(s, { bos: false, parseSpecial: false }))).toBe(s);
    expect(tok.decode([LLAMA3_BOS, 9906, LLAMA3_END_OF_TEXT, 1917, LLAMA3_EOT])).toBe("Hello world");
  });
});

describe("GPT-2's vocabulary (pre-tokenizers gpt-2 and smollm, 50,257 tokens)", () => {
  const gpt2 = throughGguf(gpt2Vocab("gpt-2"));
  const smollm = throughGguf(gpt2Vocab("smollm"));

  it("gpt-2 encodes 3000 strings exactly as gpt-tokenizer (r50k_base) and @huggingface/tokenizers", () => {
    const hf = new HfTokenizer(huggingFaceJson(gpt2Vocab("gpt-2")), {});
    const ours = (s: string) => gpt2.encode(s);
    expect(firstMismatch(COMPARABLE, ours, gpt2Reference)).toBeNull();
    expect(firstMismatch(COMPARABLE, ours, (s) => hf.encode(s, { add_special_tokens: false }).ids)).toBeNull();
  });

  it("smollm splits digits one by one, then as GPT-2: equal to @huggingface/tokenizers with SmolLM2's pre-tokenizer", () => {
    const hf = new HfTokenizer(huggingFaceJson(gpt2Vocab("smollm")), {});
    expect(COMPARABLE_DIGITS.length).toBeGreaterThan(2500);
    expect(firstMismatch(COMPARABLE_DIGITS, (s) => smollm.encode(s), (s) => hf.encode(s, { add_special_tokens: false }).ids)).toBeNull();
    expect(smollm.encode("2024").map((id) => smollm.piece(id))).toEqual(["2", "0", "2", "4"]);
    expect(gpt2.encode("2024").map((id) => gpt2.piece(id))).toEqual(["20", "24"]);
  });

  it("adds no BOS unless the file asks for one; add_bos_token and add_eos_token are honoured", () => {
    expect(gpt2.addBos).toBe(false);
    expect(gpt2.encode("Hello")).toEqual([15496]);
    const withFlags = throughGguf({ ...gpt2Vocab(), addBos: true, addEos: true });
    expect(withFlags.encode("Hello")).toEqual([50256, 15496, 50256]);
    expect(withFlags.encode("Hello", { bos: false, eos: false })).toEqual([15496]);
  });

  it("a user-defined token is found in text even without parseSpecial; a control token only with it", () => {
    const data = gpt2Vocab();
    const types = data.tokenTypes!.slice();
    types[31373] = TOKEN_TYPE.USER_DEFINED; // "hello"
    const tok = throughGguf({ ...data, tokenTypes: types });
    expect(tok.encode("sayhello", { parseSpecial: false })).toEqual([...gpt2.encode("say"), 31373]);
    expect(tok.encode("a<|endoftext|>", { parseSpecial: false })).toEqual(gpt2Encode("a<|endoftext|>", { disallowedSpecial: new Set() }));
  });
});

describe("Unicode's definitions where the JavaScript references differ", () => {
  it("U+0085 is whitespace and U+FEFF is not (Unicode White_Space)", () => {
    expect(preTokenizer("gpt-2")("a\u0085\u0085b")).toEqual(["a", "\u0085", "\u0085", "b"]);
    // Llama 3 lets one non-letter lead a word, whitespace included, but not \r or \n.
    expect(preTokenizer("llama-bpe")("a\u0085\u0085b")).toEqual(["a", "\u0085", "\u0085b"]);
    for (const name of ["gpt-2", "llama-bpe"]) expect(preTokenizer(name)("a \ufeffb")).toEqual(["a", " \ufeff", "b"]);
  });
  it("smollm isolates every numeral, not only ASCII digits (llama.cpp's \\p{N}, Rust's char::is_numeric)", () => {
    expect(preTokenizer("smollm")("x ٣٤ ½")).toEqual(["x", " ", "٣", "٤", " ", "½"]);
  });
  it("and those strings still round-trip through encode and decode", () => {
    const tok = LLAMA3;
    const odd = CORPUS.filter((s) => JS_WHITESPACE_DIFFERS.test(s) || NON_ASCII_DIGIT.test(s));
    expect(odd.length).toBeGreaterThan(10);
    for (const s of odd) expect(tok.decode(tok.encode(s, { bos: false, parseSpecial: false }))).toBe(s);
  });
});

describe("llama.cpp's default pre-tokenizer (an unrecognised vocabulary)", () => {
  const split = preTokenizer("default");
  it("splits punctuation runs, then GPT-2's pattern, then digits into groups of three", () => {
    expect(split("Hello, world!! 12345 a+b")).toEqual(["Hello", ",", " world", "!!", " ", "123", "45", " a", "+", "b"]);
  });
  it("a name llama.cpp does not know is refused", () => {
    expect(() => preTokenizer("qwen9")).toThrow(/pre-tokenizer "qwen9" is not supported/);
  });
});
