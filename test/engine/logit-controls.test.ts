// OpenAI's frequency / presence penalties, logit_bias and logprobs against an independent
// computation: the formula written out per token, and fresh forward passes of the real model.
import { describe, expect, it } from "vitest";
import { generate } from "../../shared/engine/generate.ts";
import { LogitControls, logSoftmax, pickLogprobs } from "../../shared/engine/logit-controls.ts";
import { Rng } from "../../shared/engine/sampler.ts";
import { stories } from "../helpers/model-dir.ts";

const { tf, tok } = stories();

function randomLogits(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 20);
}

/** mu[j] - c[j]*f - (c[j] > 0)*p + bias[j], straight from OpenAI's definition. */
function expectedAdjusted(logits: Float32Array, generated: number[], f: number, p: number, bias: Record<string, number>): number[] {
  return Array.from(logits, (mu, j) => {
    const c = generated.filter((t) => t === j).length;
    return mu - c * f - (c > 0 ? 1 : 0) * p + (bias[String(j)] ?? 0);
  });
}

/** Logits at every position of `ids` from a fresh state: an independent forward pass. */
function logitsAlong(ids: number[]): Float32Array[] {
  const s = tf.newState();
  return ids.map((id, pos) => tf.forward(s, id, pos).slice());
}

const argmaxOf = (xs: ArrayLike<number>) => Array.from(xs).reduce((best, x, i, a) => (x > a[best]! ? i : best), 0);

describe("LogitControls", () => {
  it("applies frequency and presence penalties per earlier occurrence, and the bias, as OpenAI defines them", () => {
    const generated = [3, 7, 3, 3, 11, 7, 0];
    const bias = { "5": 42, "7": -3.5, "0": -100 };
    for (const [f, p] of [[0.7, 1.3], [-2, 2], [2, -0.5]] as const) {
      const logits = randomLogits(32, 99);
      const c = new LogitControls({ frequencyPenalty: f, presencePenalty: p, logitBias: bias });
      for (const t of generated) c.accept(t);
      const got = logits.slice();
      c.apply(got);
      const want = expectedAdjusted(logits, generated, f, p, bias);
      want.forEach((w, j) => expect(got[j]).toBeCloseTo(w, 4));
    }
  });

  it("is inactive at zero penalties and no bias", () => {
    expect(new LogitControls({ frequencyPenalty: 0, presencePenalty: 0 }).inactive).toBe(true);
    expect(new LogitControls({ logitBias: { "1": 0.5 } }).inactive).toBe(false);
  });
});

describe("logprobs", () => {
  it("logSoftmax matches log(exp(x) / sum exp) in float64, and top-k matches a full sort", () => {
    const logits = randomLogits(300, 7);
    const lp = logSoftmax(logits);
    const z = Array.from(logits).reduce((a, x) => a + Math.exp(x), 0);
    logits.forEach((x, i) => expect(lp[i]).toBeCloseTo(Math.log(Math.exp(x) / z), 9));
    const sorted = Array.from(lp, (logprob, id) => ({ id, logprob })).sort((a, b) => b.logprob - a.logprob || a.id - b.id);
    const picked = pickLogprobs(lp, 17, 20);
    expect(picked.top).toEqual(sorted.slice(0, 20));
    expect(picked.logprob).toBe(lp[17]);
    expect(pickLogprobs(lp, 17, 0).top).toEqual([]);
  });

  it("reports each generated token's log-probability under the model, checked by fresh forward passes", () => {
    const reported: { id: number; logprob: number; top: { id: number; logprob: number }[] }[] = [];
    const r = generate(tf, tok, "Once upon a time", { maxTokens: 12, temperature: 0, topLogprobs: 3, onToken: (_id, lp) => reported.push(lp!) });
    const ids = [...r.promptIds, ...r.tokens];
    const all = logitsAlong(ids.slice(0, -1));
    r.tokens.forEach((t, i) => {
      const lp = logSoftmaxNaive(all[r.promptIds.length - 1 + i]!);
      expect(reported[i]!.id).toBe(t);
      expect(reported[i]!.logprob).toBeCloseTo(lp[t]!, 4);
      // Greedy: the chosen token is the most likely one.
      expect(reported[i]!.top[0]!.id).toBe(t);
      expect(reported[i]!.top.map((x) => x.logprob)).toEqual([...reported[i]!.top.map((x) => x.logprob)].sort((a, b) => b - a));
    });
  });
});

function logSoftmaxNaive(x: Float32Array): number[] {
  const z = Array.from(x).reduce((a, v) => a + Math.exp(v), 0);
  return Array.from(x, (v) => v - Math.log(z));
}

describe("generation under penalties and bias (greedy)", () => {
  it("picks, at every step, the argmax of the adjusted logits of an independent forward pass", () => {
    const f = 1.5;
    const p = 0.8;
    const bias = { "400": 3, "13": -100 };
    const r = generate(tf, tok, "Once upon a time, there was a", { maxTokens: 24, temperature: 0, logitControls: { frequencyPenalty: f, presencePenalty: p, logitBias: bias } });
    const plain = generate(tf, tok, "Once upon a time, there was a", { maxTokens: 24, temperature: 0 });
    expect(r.tokens).not.toEqual(plain.tokens); // the controls changed the text
    const all = logitsAlong([...r.promptIds, ...r.tokens].slice(0, -1));
    r.tokens.forEach((t, i) => {
      const adjusted = expectedAdjusted(all[r.promptIds.length - 1 + i]!, r.tokens.slice(0, i), f, p, bias);
      expect(t).toBe(argmaxOf(adjusted));
    });
  });

  it("logit_bias -100 bans a token and +100 forces one", () => {
    const plain = generate(tf, tok, "Once upon a time", { maxTokens: 8, temperature: 0 });
    const banned = plain.tokens[0]!;
    const r = generate(tf, tok, "Once upon a time", { maxTokens: 8, temperature: 0.8, seed: 3, logitControls: { logitBias: { [banned]: -100 } } });
    expect(r.tokens).not.toContain(banned);
    const forced = generate(tf, tok, "Once upon a time", { maxTokens: 5, temperature: 1, seed: 5, logitControls: { logitBias: { "300": 100 } } });
    expect(forced.tokens).toEqual([300, 300, 300, 300, 300]);
  });
});
