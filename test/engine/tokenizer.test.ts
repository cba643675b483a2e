// The tokenizer against an independent transcription of llama2.c's quadratic encode loop.
import { describe, expect, it } from "vitest";
import { stories } from "../helpers/model-dir.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { Rng } from "../../shared/engine/sampler.ts";

/** llama2.c's encode(), transcribed literally: O(n^2) best-pair merging. */
function llama2cEncode(tok: Tokenizer, text: string): number[] {
  const vocab = new Map<string, number>();
  const scores: number[] = [];
  for (let i = 0; i < tok.vocabSize; i++) {
    if (!vocab.has(tok.piece(i))) vocab.set(tok.piece(i), i);
  }
  const score = (id: number) => {
    if (scores[id] === undefined) scores[id] = (tok as unknown as { scores: Float32Array }).scores[id]!;
    return scores[id]!;
  };
  const ids: number[] = [1];
  if (text !== "") ids.push(vocab.get(" ")!);
  for (const ch of text) {
    const id = vocab.get(ch);
    if (id !== undefined) ids.push(id);
    else for (const b of new TextEncoder().encode(ch)) ids.push(b + 3);
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i < ids.length - 1; i++) {
      if (i === 0) continue; // BOS never merges (llama2.c merges before adding... BOS is id 1 "<s>", no merge exists)
      const id = vocab.get(tok.piece(ids[i]!) + tok.piece(ids[i + 1]!));
      if (id !== undefined && score(id) > best) {
        best = score(id);
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    ids.splice(bestIdx, 2, bestId);
  }
  return ids;
}

function randomText(rng: Rng, n: number): string {
  const alphabet = [..."abcdefghijklmnopqrstuvwxyz     ,.!?'\"\nTheLily", "é", "ü", "北", "京", "🚀", "👩‍👧", "\u0301", "\t", "0", "9"];
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[rng.nextU32() % alphabet.length];
  return s;
}

describe("tokenizer (llama2.c sentencepiece BPE)", () => {
  const { tok } = stories("bin");

  it("starts with BOS and adds the dummy leading space", () => {
    const ids = tok.encode("Once upon a time");
    expect(ids[0]).toBe(1);
    expect(tok.piece(ids[1]!).startsWith(" ")).toBe(true);
    expect(tok.encode("")).toEqual([1]);
    expect(tok.encode("x", { bos: false, eos: true }).at(-1)).toBe(2);
    expect(tok.encode("x", { bos: false })[0]).not.toBe(1);
  });

  it("matches llama2.c's quadratic merge loop on random text", () => {
    const rng = new Rng(7);
    for (let i = 0; i < 60; i++) {
      const text = randomText(rng, 1 + (rng.nextU32() % 80));
      expect(tok.encode(text)).toEqual(llama2cEncode(tok, text));
    }
  });

  it("falls back to <0xXX> byte tokens for characters outside the vocabulary", () => {
    const ids = tok.encode("北", { bos: false });
    const bytes = [...new TextEncoder().encode("北")];
    expect(ids.slice(-3).map((id) => tok.piece(id))).toEqual(bytes.map((b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`));
  });

  it("round-trips arbitrary UTF-8 through encode and decode", () => {
    const rng = new Rng(11);
    const fixed = ["Once upon a time", " leading space", "  two", "naïve café — 北京 🚀 👩‍👧", "line\nbreaks\n\n", "tab\tand\u0000nul", "a".repeat(300)];
    for (const t of fixed) expect(tok.decode(tok.encode(t))).toBe(t);
    for (let i = 0; i < 40; i++) {
      const t = randomText(rng, 1 + (rng.nextU32() % 60));
      expect(tok.decode(tok.encode(t))).toBe(t);
    }
  });

  it("decodes a space after BOS away, as llama2.c prints", () => {
    const ids = tok.encode("Hello");
    expect(tok.decode(ids)).toBe("Hello");
    expect(tok.decode(ids.slice(1))).toBe("Hello"); // first token treated as following BOS
  });

  it("encodes a long text fast (heap merge, not quadratic)", () => {
    const text = "Once upon a time, there was a little girl named Lily. ".repeat(400);
    const ids = tok.encode(text, { bos: false });
    expect(ids.length).toBeLessThan(text.length / 2);
    expect(tok.decode(ids)).toBe(text);
  });
});
