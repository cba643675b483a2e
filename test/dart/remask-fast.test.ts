// DART's fast mask builds against the direct computation. A mask at the end of a prompt
// computes the mean-compensation bias as (whole layer's mean output) - (kept neurons' part)
// instead of summing the pruned neurons' W_down columns, and a drift re-mask installs the
// prior's masks memoised per model. Checked here on the real stories260K model against the
// formula of masking-pruner.ts evaluated independently in float64 from the file's row-major
// W_down: the same kept sets exactly, biases and logits equal to float rounding.
import { describe, expect, it } from "vitest";
import { createPruner, parseDartSettings } from "../../shared/dart/index.ts";
import { DART_TUNING, MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import { downNorms, genericStats } from "../../shared/dart/priors.ts";
import { keptCount } from "../../shared/dart/budget.ts";
import { topK } from "../../shared/dart/ranking.ts";
import { decodeState, encodeState } from "../../shared/dart/state-codec.ts";
import { Transformer, type InferenceState } from "../../shared/engine/transformer.ts";
import { tsBackend } from "../../shared/engine/backend/backend.ts";
import { WasmBackend } from "../../shared/engine/backend/wasm-backend.ts";
import { loadModel } from "../../shared/model/load.ts";
import { readData, stories } from "../helpers/model-dir.ts";
import type { CompactFfn } from "../../shared/engine/compact-ffn.ts";

const { tok } = stories("bin");
/** A second copy of the file's weights: the Transformers below take theirs neuron-major. */
const reference = loadModel(readData("stories260K.bin"));
const prompt = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play outside", { bos: true });
const SPARSITY = 0.7;

/** Kept sets and biases the direct way: scores from the blended moments, bias = sum over pruned j (f64). */
function expected(tf: Transformer, m1: (l: number) => Float32Array, m2: (l: number) => Float32Array, tokens: number) {
  const { nLayers: L, hiddenDim: H, dim } = tf.config;
  const prior = genericStats(tf, "self");
  const norms = downNorms(tf);
  const c = Math.min(tokens, DART_TUNING.promptCap);
  const P = DART_TUNING.priorWeight;
  const kept: Int32Array[] = [], bias: Float64Array[] = [];
  for (let l = 0; l < L; l++) {
    const mean = new Float32Array(H), score = new Float32Array(H);
    for (let j = 0; j < H; j++) {
      const a = (P * prior.meanActivation[l]![j]! + c * m1(l)[j]!) / (P + c);
      const e = (P * prior.meanEnergy[l]![j]! + c * m2(l)[j]!) / (P + c);
      mean[j] = a;
      score[j] = norms[l]![j]! * Math.sqrt(Math.max(e - a * a, 0));
    }
    const k = topK(score, keptCount(H, SPARSITY));
    const isKept = new Set(k);
    const wDown = reference.weights.layers[l]!.wDown; // dim x hidden, row-major
    const b = new Float64Array(dim);
    for (let d = 0; d < dim; d++) for (let j = 0; j < H; j++) if (!isKept.has(j)) b[d] += mean[j]! * wDown[d * H + j]!;
    kept.push(k);
    bias.push(b);
  }
  return { kept, bias };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number): void {
  expect(got.length).toBe(want.length);
  const tol = rel * Math.max(maxAbs(want), 1e-6);
  for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(tol);
}

/** Runs the prompt through a dart pruner and builds the first mask (the decode of its first token). */
function maskAfterPrompt(tf: Transformer) {
  const state = tf.newState();
  const p = createPruner(tf, state, parseDartSettings({ method: "dart", sparsity: SPARSITY })) as MaskingPruner;
  prompt.forEach((t, pos) => {
    p.beforeForward(pos, t, "prompt");
    tf.forward(state, t, pos, p.hooks);
  });
  p.beforeForward(prompt.length, 5, "decode");
  return { p, state };
}

const backends = [
  ["ts", () => tsBackend],
  ["wasm", () => new WasmBackend()],
] as const;

describe.each(backends)("dart's mask builds without a pass over the pruned columns (%s backend)", (_name, backend) => {
  const tf = new Transformer(loadModel(readData("stories260K.bin")), { backend: backend() });
  const ffns = (s: InferenceState) => s.ffn as CompactFfn[];

  it("builds the prompt's masks and biases the direct computation gives, and the same logits", () => {
    const { p, state } = maskAfterPrompt(tf);
    const t = p.tracer;
    const want = expected(tf, (l) => t.means(l).m1!, (l) => t.means(l).m2, t.tokens);
    // kept < pruned at 0.7, so the bias went through the fast path (total minus kept part)
    expect(keptCount(tf.config.hiddenDim, SPARSITY) * 2).toBeLessThan(tf.config.hiddenDim);
    ffns(state).forEach((f, l) => {
      expect(Array.from(f.kept)).toEqual(Array.from(want.kept[l]!));
      expectClose(f.bias!, want.bias[l]!, 1e-5);
    });
    // The same token at the same position, once with each bias: logits agree to rounding.
    const pos = prompt.length;
    const fast = tf.forward(state, 5, pos).slice();
    const saved = ffns(state).map((f) => f.bias);
    ffns(state).forEach((f, l) => (f.bias = Float32Array.from(want.bias[l]!)));
    const direct = tf.forward(state, 5, pos).slice();
    ffns(state).forEach((f, l) => (f.bias = saved[l]!));
    expectClose(fast, direct, 1e-5);
    expect(fast.indexOf(Math.max(...fast))).toBe(direct.indexOf(Math.max(...direct)));
    tf.releaseState(state);
  });

  it("re-masks on drift with the prior's masks, computed once per model", () => {
    const { p, state } = maskAfterPrompt(tf);
    tf.forward(state, 5, prompt.length, p.hooks);
    p.pendingRemask = true;
    p.beforeForward(prompt.length + 1, 5, "decode");
    expect(p.stats().remasks).toBe(1);
    const prior = genericStats(tf, "self");
    const want = expected(tf, (l) => prior.meanActivation[l]!, (l) => prior.meanEnergy[l]!, 0);
    ffns(state).forEach((f, l) => {
      expect(Array.from(f.kept)).toEqual(Array.from(want.kept[l]!));
      expectClose(f.bias!, want.bias[l]!, 1e-5);
    });
    const settings = parseDartSettings({ method: "dart", sparsity: SPARSITY });
    const plan = MaskingPruner.priorPlan(tf, settings)!;
    expect(MaskingPruner.priorPlan(tf, settings)).toBe(plan); // memoised: a re-mask recomputes nothing
    ffns(state).forEach((f, l) => expect(f.bias).toBe(plan.bias[l]));
    tf.releaseState(state);
  });

  it("restores a trace saved mid-prompt to the same masks, and one saved without output sums the direct way", () => {
    const state = tf.newState();
    const settings = parseDartSettings({ method: "dart", sparsity: SPARSITY });
    const a = createPruner(tf, state, settings) as MaskingPruner;
    const half = prompt.length >> 1;
    for (let pos = 0; pos < half; pos++) {
      a.beforeForward(pos, prompt[pos]!, "prompt");
      tf.forward(state, prompt[pos]!, pos, a.hooks);
    }
    const saved = a.serialize();
    const { header, arrays } = decodeState<Record<string, unknown>>(saved);
    expect(arrays.outputMoment?.length).toBe(tf.config.nLayers * tf.config.dim);
    delete arrays.outputMoment;
    const older = encodeState(header, arrays);
    const finish = (bytes: Uint8Array) => {
      const s = tf.newState();
      s.keyCache.set(state.keyCache);
      s.valueCache.set(state.valueCache);
      const p = createPruner(tf, s, settings, bytes) as MaskingPruner;
      for (let pos = half; pos < prompt.length; pos++) {
        p.beforeForward(pos, prompt[pos]!, "prompt");
        tf.forward(s, prompt[pos]!, pos, p.hooks);
      }
      p.beforeForward(prompt.length, 5, "decode");
      return { p, s };
    };
    const whole = maskAfterPrompt(tf);
    const now = finish(saved);
    const old = finish(older);
    expect(old.p.tracer.outputComplete).toBe(false);
    ffns(whole.state).forEach((f, l) => {
      expect(Array.from(ffns(now.s)[l]!.kept)).toEqual(Array.from(f.kept));
      expect(Array.from(ffns(old.s)[l]!.kept)).toEqual(Array.from(f.kept));
      expectClose(ffns(now.s)[l]!.bias!, f.bias!, 1e-6);
      expectClose(ffns(old.s)[l]!.bias!, f.bias!, 1e-5);
    });
    for (const s of [state, whole.state, now.s, old.s]) tf.releaseState(s);
  });
});
