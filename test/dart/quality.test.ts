// Tests that DART's quality claims hold on real documents (stories260K, the evaluation
// sets of docs/quality.md, fewer and shorter documents), and that its parts compute what
// they say, checked against direct computations.
import { describe, expect, it } from "vitest";
import { createPruner, DEFAULT_DART_SETTINGS, type DartSettings, type MethodName } from "../../shared/dart/index.ts";
import { DART_TUNING, type MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import { genericStats } from "../../shared/dart/priors.ts";
import { evaluate, references } from "../../shared/eval/sweep.ts";
import { buildSet } from "../../cli/eval-sets.ts";
import { MODEL_DIR, stories } from "../helpers/model-dir.ts";

const { tf, tok, model } = stories("bin");
const settings = (o: Partial<DartSettings>): DartSettings => ({ ...DEFAULT_DART_SETTINGS, ...o });

describe("quality ordering at equal effective sparsity", () => {
  const docs = buildSet("in-domain", tok, MODEL_DIR, { docs: 4, promptLen: 32, partLen: 96 });
  const refs = references(tf, tok, docs);
  const run = (method: MethodName, sparsity: number) => evaluate(tf, tok, docs, refs, settings({ method, sparsity }));

  it("dart < static < random and griffin < random in perplexity, at the same effective sparsity", () => {
    const r = Object.fromEntries((["dart", "static", "griffin", "random"] as const).map((m) => [m, run(m, 0.4)]));
    // None of these runs a dense token after the prompt: every one skips exactly 69 of 172 neurons per layer.
    for (const x of Object.values(r)) expect(x.effectiveSparsity).toBeCloseTo(69 / 172, 10);
    console.log(`[quality] perplexity at 0.4: ${Object.entries(r).map(([m, x]) => `${m} ${x.perplexity.toFixed(2)}`).join(", ")}`);
    expect(r.dart!.perplexity).toBeLessThan(r.static!.perplexity);
    expect(r.static!.perplexity).toBeLessThan(r.random!.perplexity);
    expect(r.griffin!.perplexity).toBeLessThan(r.random!.perplexity);
  });
});

describe("dart's mean compensation", () => {
  it("each layer's bias is the sum over pruned neurons of their blended mean activation times their W_down column", () => {
    const state = tf.newState();
    const p = createPruner(tf, state, settings({ method: "dart", sparsity: 0.5 })) as MaskingPruner;
    const ids = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play in the park.", { bos: true });
    p.beginTurn(0, ids.length);
    ids.forEach((t, pos) => {
      p.beforeForward(pos, t, "prompt");
      tf.forward(state, t, pos, p.hooks);
    });
    p.beforeForward(ids.length, 1, "decode"); // the first generated token: masks are built here
    const { dim, hiddenDim: H } = tf.config;
    const prior = genericStats(tf, "self");
    const c = Math.min(p.tracer.tokens, DART_TUNING.promptCap);
    const P = DART_TUNING.priorWeight;
    expect(c).toBe(ids.length);
    for (let l = 0; l < tf.config.nLayers; l++) {
      const kept = new Set(p.kept[l]!);
      expect(kept.size).toBe(86);
      const wd = model.weights.layers[l]!.wDown; // from the model file: dim x H, row-major
      const bias = state.ffn[l]!.bias!;
      for (let d = 0; d < dim; d++) {
        let want = 0;
        for (let j = 0; j < H; j++) {
          if (kept.has(j)) continue;
          const promptMean = p.tracer.firstMoment[l]![j]! / p.tracer.tokens;
          want += ((P * prior.meanActivation[l]![j]! + c * promptMean) / (P + c)) * wd[d * H + j]!;
        }
        expect(bias[d]!).toBeCloseTo(want, 4);
      }
    }
  });
});

describe("drift detection on topic switches (dart)", () => {
  const docs = buildSet("story-speech", tok, MODEL_DIR, { docs: 8, promptLen: 32, partLen: 96 });
  const refs = references(tf, tok, docs);
  it("re-masks within 20 tokens of the switch in most documents, with few false alarms before it", () => {
    const s = evaluate(tf, tok, docs, refs, settings({ method: "dart", sparsity: 0.3 }), true);
    console.log(`[quality] story-speech drift: detection ${s.detectionRate}, false alarms ${s.falseAlarmRate?.toFixed(3)}, re-masks ${s.remasks}`);
    expect(s.detectionRate).toBeGreaterThanOrEqual(0.5);
    expect(s.falseAlarmRate).toBeLessThanOrEqual(0.25);
  });
});
