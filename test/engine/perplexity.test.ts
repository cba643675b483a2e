import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { perplexity, windows, logProb } from "../../shared/eval/perplexity.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";

describe("perplexity", () => {
  it("windows cover every token once, each after BOS", () => {
    const toks = Array.from({ length: 10 }, (_, i) => 100 + i);
    expect(windows(toks, 4, 1)).toEqual([[1, 100, 101, 102], [1, 103, 104, 105], [1, 106, 107, 108], [1, 109]]);
  });

  it("log-probabilities are a normalised log-softmax", () => {
    const l = Float32Array.of(1, 2, 3);
    const total = [0, 1, 2].reduce((s, i) => s + Math.exp(logProb(l, i)), 0);
    expect(total).toBeCloseTo(1, 10);
    expect(logProb(l, 2)).toBeCloseTo(3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)), 10);
  });

  it("is about 4 on TinyStories validation text (first 8 windows of 511 tokens)", () => {
    const { tf, tok } = stories("bin");
    const text = readFileSync(dataPath("tinystories-valid-dev.txt"), "utf8").slice(0, 40_000);
    const ids = tok.encode(text, { bos: false }).slice(0, 8 * 511);
    const r = perplexity(tf, ids, { bosId: tok.bosId });
    expect(r.tokens).toBe(8 * 511);
    expect(r.windows).toBe(8);
    expect(r.perplexity).toBeGreaterThan(3.3);
    expect(r.perplexity).toBeLessThan(5);
  });

  it("is far higher on out-of-domain text (State of the Union)", () => {
    const { tf, tok } = stories("bin");
    const text = readFileSync(dataPath("sotu-2016-2019.txt"), "utf8").slice(0, 6000);
    const ids = tok.encode(text, { bos: false }).slice(0, 511);
    expect(perplexity(tf, ids, { bosId: tok.bosId }).perplexity).toBeGreaterThan(15);
  });
});
