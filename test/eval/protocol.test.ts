import { describe, expect, it } from "vitest";
import { rougeL } from "../../shared/eval/rouge.ts";
import { atEffectiveSparsity } from "../../shared/eval/sweep.ts";
import { denseReference, scoreDocument, summarize, type OnlineSummary } from "../../shared/eval/online.ts";
import { speechPassages, splitStories } from "../../shared/eval/documents.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { buildSet } from "../../cli/eval-sets.ts";
import { MODEL_DIR, stories } from "../helpers/model-dir.ts";

describe("ROUGE-L", () => {
  it("is the LCS F1 over tokens", () => {
    expect(rougeL([1, 2, 3], [1, 2, 3])).toBe(1);
    expect(rougeL([1, 2, 3], [4, 5])).toBe(0);
    // LCS of [1,2,3,4] and [1,3,4,5] is [1,3,4]: p = 3/4, r = 3/4.
    expect(rougeL([1, 2, 3, 4], [1, 3, 4, 5])).toBeCloseTo(0.75, 10);
    expect(rougeL([1, 2], [1, 2, 3, 4])).toBeCloseTo((2 * 1 * 0.5) / 1.5, 10);
  });
});

describe("equal effective sparsity", () => {
  const pt = (e: number, ppl: number) => ({ effectiveSparsity: e, perplexity: ppl, agreement: 1 - e, klToDense: e }) as OnlineSummary;
  it("interpolates perplexity in log space and other metrics linearly", () => {
    const curve = [pt(0.4, 40), pt(0.2, 10)];
    expect(atEffectiveSparsity(curve, 0.3, "perplexity")).toBeCloseTo(20, 8);
    expect(atEffectiveSparsity(curve, 0.3, "agreement")).toBeCloseTo(0.7, 8);
    expect(atEffectiveSparsity(curve, 0.5, "perplexity")).toBeNull();
    expect(atEffectiveSparsity(curve, 0.403, "perplexity")).toBe(40); // snapped: whole-neuron rounding
  });
});

describe("evaluation documents", () => {
  const { tok } = stories("bin");
  it("splits stories on blank lines and speeches into sentence-ended passages", () => {
    expect(splitStories("a b\n\n c \n \nd")).toEqual(["a b", "c", "d"]);
    // Passages close once they reach 8 characters; a short tail of a speech is dropped.
    expect(speechPassages("One. Two! Three? Four.\nFive.", 8)).toEqual(["One. Two!", "Three? Four."]);
  });
  it("topic-switch documents record the switch point and differ across it", () => {
    for (const set of ["story-speech", "story-story"] as const) {
      const docs = buildSet(set, tok, MODEL_DIR, { docs: 3, promptLen: 32, partLen: 64 });
      expect(docs).toHaveLength(3);
      for (const d of docs) {
        expect(d.tokens[0]).toBe(tok.bosId);
        expect(d.switchAt).toBe(65);
        expect(d.tokens.length).toBeGreaterThan(100);
        const second = tok.decode(d.tokens.slice(d.switchAt!));
        expect(second.startsWith("\n")).toBe(true);
      }
    }
    const speech = buildSet("story-speech", tok, MODEL_DIR, { docs: 2, promptLen: 32, partLen: 64 });
    expect(tok.decode(speech[0]!.tokens.slice(speech[0]!.switchAt!))).toMatch(/America|Congress|our|we|the/i);
  });
});

describe("online protocol", () => {
  const { tf, tok } = stories("bin");
  const doc = buildSet("story-speech", tok, MODEL_DIR, { docs: 1, promptLen: 32, partLen: 48 })[0]!;
  const ref = denseReference(tf, tok, doc, 8);

  it("dense against itself: perplexity equals the reference, agreement 1, KL 0, no sparsity", () => {
    const s = summarize({ ...DEFAULT_DART_SETTINGS, method: "dense", sparsity: 0 }, [scoreDocument(tf, tok, doc, ref, { ...DEFAULT_DART_SETTINGS, method: "dense", sparsity: 0 })]);
    let nll = 0;
    ref.logProbs.forEach((lp, i) => (nll -= lp[doc.tokens[doc.promptLen + 1 + i]!]!));
    expect(s.tokens).toBe(doc.tokens.length - 1 - doc.promptLen);
    expect(s.perplexity).toBeCloseTo(Math.exp(nll / s.tokens), 6);
    expect(s.agreement).toBe(1);
    expect(s.klToDense).toBeCloseTo(0, 6);
    expect(s.effectiveSparsity).toBe(0);
    expect(s.rougeL).toBe(1);
  });

  it("pruning costs quality, and dart-paper's dense tracing tokens lower its effective sparsity", () => {
    const score = (method: "static" | "dart-paper") => scoreDocument(tf, tok, doc, ref, { ...DEFAULT_DART_SETTINGS, method, sparsity: 0.5 });
    const run = (method: "static" | "dart-paper") => summarize({ ...DEFAULT_DART_SETTINGS, method, sparsity: 0.5 }, [score(method)]);
    const st = run("static");
    const dp = run("dart-paper");
    expect(st.effectiveSparsity).toBeCloseTo(1 - 86 / 172, 6);
    expect(st.agreement).toBeLessThan(1);
    expect(st.klToDense).toBeGreaterThan(0.01);
    // Masking step 10: 9 dense generated tokens after the prompt, and more after each re-mask.
    expect(dp.denseTokenFraction).toBeGreaterThanOrEqual((9 + dp.remasks) / st.tokens);
    expect(dp.effectiveSparsity).toBeCloseTo(0.5 * (1 - dp.denseTokenFraction), 2);
    // The detector's rates, recomputed from its own window log (switch after BOS + 48 story tokens).
    const windows = score("dart-paper").events.filter((e) => e.kind === "window");
    const before = windows.filter((e) => e.pos < doc.switchAt!);
    expect(doc.switchAt).toBe(49);
    expect(before.length).toBeGreaterThan(0);
    expect(dp.falseAlarmRate).toBeCloseTo(before.filter((e) => e.remask).length / before.length, 10);
    expect(dp.detectionRate).toBe(windows.some((e) => e.remask && e.pos >= 49 && e.pos < 69) ? 1 : 0);
    // static has no detector, nor dart-paper with drift off (the reference scripts' setting): no rates at all.
    expect(st.falseAlarmRate).toBeUndefined();
    const off = { ...DEFAULT_DART_SETTINGS, method: "dart-paper" as const, sparsity: 0.5, drift: false };
    const quiet = summarize(off, [scoreDocument(tf, tok, doc, ref, off)]);
    expect(quiet.falseAlarmRate).toBeUndefined();
    expect(quiet.remasks).toBe(0);
  });
});
