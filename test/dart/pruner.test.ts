import { describe, expect, it } from "vitest";
import { createPruner, parseDartSettings, sameSettings, DEFAULT_DART_SETTINGS, StateFormatError, type DartSettings, type Pruner } from "../../shared/dart/index.ts";
import type { InferenceState, Transformer } from "../../shared/engine/transformer.ts";
import { argmax } from "../../shared/engine/sampler.ts";
import { buildSet } from "../../cli/eval-sets.ts";
import { MODEL_DIR, stories } from "../helpers/model-dir.ts";

const { tf, tok } = stories("bin");
const settings = (o: Partial<DartSettings>): DartSettings => ({ ...DEFAULT_DART_SETTINGS, ...o });

/**
 * Prefill a prompt (its first `promptLen` tokens, all of `ids` by default), then greedy-decode;
 * records each step's kept sets. Generated token i is fed at position promptLen - 1 + i.
 */
function runGreedy(pruner: Pruner, state: InferenceState, t: Transformer, ids: number[], from: number, to: number, keptLog: string[], promptLen = ids.length): number[] {
  const out: number[] = [];
  let token = ids[from]!;
  for (let pos = from; pos < to; pos++) {
    const phase = pos < promptLen ? "prompt" : "decode";
    if (pos < ids.length) token = ids[pos]!;
    pruner.beforeForward(pos, token, phase);
    const logits = t.forward(state, token, pos, pruner.hooks);
    keptLog.push(state.ffn.map((f) => (f ? Array.from(f.kept).join(",") : "dense")).join("|"));
    if (pos >= ids.length - 1) {
      token = argmax(logits);
      out.push(token);
      ids = pos + 1 < ids.length ? ids : [...ids, token];
    }
  }
  return out;
}

function copyState(a: InferenceState, b: InferenceState): void {
  b.keyCache.set(a.keyCache);
  b.valueCache.set(a.valueCache);
}

describe("pruner state survives serialise / restore exactly", () => {
  // A story that turns into a speech, so dart-paper re-masks in both halves.
  const doc = buildSet("story-speech", tok, MODEL_DIR, { docs: 1, promptLen: 32, partLen: 64 })[0]!;
  const prompt = doc.tokens.slice(0, 96);
  const total = 160;

  const variants: [string, Partial<DartSettings>][] = [
    ["dart-paper", { method: "dart-paper" }],
    // EMA opening state and the layer-impact sums (auto budget) must survive too; the split falls inside the re-trace.
    ["dart-paper, ema + auto budget", { method: "dart-paper", aggregation: "ema", emaDecay: 0.8, budget: "auto", maskingStep: 40 }],
    ["dart", { method: "dart" }],
    ["griffin", { method: "griffin" }],
    ["static", { method: "static" }],
    ["random", { method: "random" }],
  ];
  for (const [label, extra] of variants) {
    const method = extra.method!;
    it(`${label}: identical tokens and masks when split across a restore`, () => {
      const s = settings({ sparsity: 0.5, ...extra });
      const refState = tf.newState();
      const ref = createPruner(tf, refState, s);
      ref.beginTurn(0, prompt.length);
      const refKept: string[] = [];
      const refTokens = runGreedy(ref, refState, tf, prompt, 0, total, refKept);

      const stateA = tf.newState();
      const a = createPruner(tf, stateA, s);
      a.beginTurn(0, prompt.length);
      const keptA: string[] = [];
      const split = 130;
      const first = runGreedy(a, stateA, tf, prompt, 0, split, keptA);
      const bytes = a.serialize();
      expect(bytes.byteLength).toBeLessThan(16_384); // stories260K: a few KB
      const stateB = tf.newState();
      copyState(stateA, stateB);
      const b = createPruner(tf, stateB, s, bytes);
      const ids = [...prompt, ...first];
      const second = runGreedy(b, stateB, tf, ids, split, total, keptA, prompt.length);

      expect([...first, ...second]).toEqual(refTokens);
      expect(keptA).toEqual(refKept);
      expect(b.stats()).toEqual(ref.stats());
      expect(keptA.some((k) => k !== "dense" && k.includes(","))).toBe(true);
      if (label === "dart-paper") expect(ref.stats().remasks).toBeGreaterThan(0);
    });
  }

  it("a state saved under other settings starts a fresh pruner", () => {
    const st = tf.newState();
    const p = createPruner(tf, st, settings({ method: "griffin", sparsity: 0.5 }));
    p.beginTurn(0, 10);
    runGreedy(p, st, tf, tok.encode("Once upon a time there was a big red dog"), 0, 20, []);
    const q = createPruner(tf, tf.newState(), settings({ method: "griffin", sparsity: 0.3 }), p.serialize());
    expect(q.stats().tokens).toBe(0);
    expect(q.settings.sparsity).toBe(0.3);
  });

  it("rejects corrupt state with a clear error", () => {
    const good = createPruner(tf, tf.newState(), settings({ method: "dart" })).serialize();
    expect(() => createPruner(tf, tf.newState(), settings({ method: "dart" }), Uint8Array.of(1, 2, 3))).toThrow(StateFormatError);
    const badMagic = good.slice();
    badMagic[0] = 0;
    expect(() => createPruner(tf, tf.newState(), settings({}), badMagic)).toThrow(/bad magic/);
    expect(() => createPruner(tf, tf.newState(), settings({}), good.slice(0, good.length - 200))).toThrow(/truncated/);
    const badVersion = good.slice();
    new DataView(badVersion.buffer).setUint32(4, 99, true);
    expect(() => createPruner(tf, tf.newState(), settings({}), badVersion)).toThrow(/version 99/);
  });
});

describe("methods", () => {
  const promptA = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her ball.");
  const promptB = tok.encode("Tom had a toy truck. He liked to push it in the sand box and make loud noises. His dog barked.");

  function masksAfterPrompt(method: DartSettings["method"], ids: number[], extra: Partial<DartSettings> = {}) {
    const st = tf.newState();
    const p = createPruner(tf, st, settings({ method, sparsity: 0.5, ...extra }));
    p.beginTurn(0, ids.length);
    const kept: string[] = [];
    runGreedy(p, st, tf, ids, 0, ids.length + 20, kept);
    return { kept, stats: p.stats(), events: p.events(), pruner: p };
  }

  it("static and random use one mask whatever the prompt; griffin and dart follow the prompt", () => {
    for (const m of ["static", "random"] as const) expect(masksAfterPrompt(m, promptA).kept.at(-1)).toBe(masksAfterPrompt(m, promptB).kept.at(-1));
    // First decode step: masks built from each prompt.
    for (const m of ["griffin", "dart"] as const) {
      expect(masksAfterPrompt(m, promptA).kept[promptA.length]).not.toBe(masksAfterPrompt(m, promptB).kept[promptB.length]);
    }
    expect(masksAfterPrompt("static", promptA).kept.at(-1)).not.toBe(masksAfterPrompt("random", promptA).kept.at(-1));
  });

  it("dart-paper traces the prompt and maskingStep - 1 generated tokens, masking from the maskingStep-th; dart masks right after the prompt", () => {
    const isDense = (k: string) => k.split("|").every((l) => l === "dense");
    // kept[promptA.length - 1] is the last prompt token's forward; generated token i is fed at promptA.length - 1 + i.
    const paper = masksAfterPrompt("dart-paper", promptA, { maskingStep: 7 });
    const generated = paper.kept.slice(promptA.length);
    expect(isDense(paper.kept[promptA.length - 1]!)).toBe(true);
    expect(generated.slice(0, 6).every(isDense)).toBe(true);
    expect(generated[6]).not.toContain("dense");
    for (const step of [0, 1]) {
      // Drift off (as in the reference's scripts): no windows are checked, no token after the prompt runs dense.
      const p = masksAfterPrompt("dart-paper", promptA, { maskingStep: step, drift: false });
      expect(p.kept[promptA.length]).not.toContain("dense");
      expect(p.stats.denseTokens).toBe(promptA.length);
      expect(p.events.filter((e) => e.kind === "window")).toEqual([]);
    }
    const dart = masksAfterPrompt("dart", promptA);
    expect(dart.kept[promptA.length]).not.toContain("dense");
    // Prompt tokens run dense for every method.
    expect(dart.kept.slice(0, promptA.length).every(isDense)).toBe(true);
  });

  it("counts effective sparsity over every token, dense tracing tokens included", () => {
    const { stats } = masksAfterPrompt("dart-paper", promptA, { maskingStep: 10 });
    const masked = stats.tokens - stats.denseTokens;
    const keptPerToken = 5 * Math.round(172 * 0.5);
    expect(stats.effectiveSparsity).toBeCloseTo(1 - (stats.denseTokens * 5 * 172 + masked * keptPerToken) / (stats.tokens * 5 * 172), 10);
    expect(stats.effectiveSparsity).toBeLessThan(0.5);
  });

  it("a new multi-token turn re-traces and logs it", () => {
    const st = tf.newState();
    const p = createPruner(tf, st, settings({ method: "dart-paper", sparsity: 0.5 }));
    p.beginTurn(0, promptA.length);
    runGreedy(p, st, tf, promptA, 0, promptA.length + 15, []);
    const before = p.masks().map((m) => m.kept);
    p.beginTurn(promptA.length + 15, 5);
    expect(p.events().filter((e) => e.kind === "turn")).toHaveLength(2);
    expect(before.every((k) => k === 86)).toBe(true);
  });

  it("the auto budget spends the same total as uniform but per layer differently", () => {
    const auto = masksAfterPrompt("dart-paper", promptA, { budget: "auto", sparsity: 0.5 }).pruner.masks();
    const total = auto.reduce((s, m) => s + m.kept, 0);
    expect(Math.abs(total - 5 * 86)).toBeLessThanOrEqual(5);
    expect(new Set(auto.map((m) => m.kept)).size).toBeGreaterThan(1);
  });

  it("a per-layer sparsity list is honoured and checked", () => {
    const m = masksAfterPrompt("griffin", promptA, { layerSparsity: [0, 0.1, 0.5, 0.9, 0.2] }).pruner.masks();
    expect(m.map((x) => x.kept)).toEqual([172, 155, 86, 17, 138]);
    expect(() => createPruner(tf, tf.newState(), settings({ layerSparsity: [0.1, 0.2] }))).toThrow(/needs 5 entries/);
  });

  it("EMA aggregation changes the masks", () => {
    const firstMasked = promptA.length + 9; // maskingStep 10: 9 dense generated tokens, then masks
    const ema = masksAfterPrompt("dart-paper", promptA, { aggregation: "ema", emaDecay: 0.5 }).kept[firstMasked]!;
    const l2 = masksAfterPrompt("dart-paper", promptA).kept[firstMasked]!;
    expect(ema).not.toContain("dense");
    expect(l2).not.toContain("dense");
    expect(ema).not.toBe(l2);
  });
});

describe("settings validation", () => {
  it.each([
    [{ method: "magic" }, "dart.method"],
    [{ sparsity: 0.95 }, "dart.sparsity"],
    [{ sparsity: "0.5" }, "dart.sparsity"],
    [{ maskingStep: -1 }, "dart.maskingStep"],
    [{ maskingStep: 257 }, "dart.maskingStep"],
    [{ preset: "fastest" }, "dart.preset"],
    [{ drift: "no" }, "dart.drift"],
    [{ maskingStep: 2.5 }, "dart.maskingStep"],
    [{ budget: "smart" }, "dart.budget"],
    [{ ranking: "best" }, "dart.ranking"],
    [{ emaDecay: 1 }, "dart.emaDecay"],
    [{ layerSparsity: [2] }, "dart.layerSparsity"],
    [{ bogus: 1 }, "dart.bogus"],
    ["dart", "dart"],
  ])("%j is rejected naming %s", (input, param) => {
    expect(() => parseDartSettings(input)).toThrow(expect.objectContaining({ param }));
  });
  it("merges valid fields over the defaults", () => {
    expect(parseDartSettings({ method: "griffin", sparsity: 0.3 })).toEqual({ ...DEFAULT_DART_SETTINGS, method: "griffin", sparsity: 0.3 });
    expect(parseDartSettings(undefined)).toEqual(DEFAULT_DART_SETTINGS);
  });
  it("presets are the reference scripts' configurations; fields beside a preset override it", () => {
    expect(parseDartSettings({ preset: "auto-benchmark" })).toEqual({
      ...DEFAULT_DART_SETTINGS, method: "dart-paper", maskingStep: 0, ranking: "magnitude", aggregation: "l2", budget: "auto", sparsity: 0.7, drift: false,
    });
    expect(parseDartSettings({ preset: "knowledge-drift", sparsity: 0.3, drift: true })).toEqual({
      ...DEFAULT_DART_SETTINGS, method: "dart-paper", maskingStep: 30, ranking: "max", aggregation: "l2", budget: "auto", sparsity: 0.3, drift: true,
    });
  });
  it("a settings record from before a field existed equals one with that field's default", () => {
    const { drift: _, ...old } = DEFAULT_DART_SETTINGS;
    expect(sameSettings(old as DartSettings, DEFAULT_DART_SETTINGS)).toBe(true);
    expect(sameSettings(old as DartSettings, { ...DEFAULT_DART_SETTINGS, drift: false })).toBe(false);
  });
});
