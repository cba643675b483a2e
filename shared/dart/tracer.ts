// Per-layer statistics gathered while a layer's FFN runs dense, and DART's layer
// importance for the auto budget. Per neuron, as the reference (neuronDefuser.py) keeps them:
//   l2 : sum over traced tokens of a^2 (scores take its square root);
//   ema: an exponential moving average of |a|, started from the decay-weighted mean of the
//        trace's opening forward (the prompt; after a drift re-mask, its first token):
//        sum_i d^(n-1-i) |a_i| / sum_i d^(n-1-i), then e <- d e + (1 - d) |a| per token.
// GRIFFIN divides each token's activation vector by its L2 norm first.
import type { Aggregation } from "./settings.ts";
import { cosine } from "./drift.ts";

export interface TracerOptions {
  aggregation: Aggregation;
  emaDecay: number;
  /** GRIFFIN: divide each token's activation vector by its L2 norm before accumulating. */
  normalizePerToken: boolean;
  /** Whether layer importance (for the auto budget) is tracked. */
  importance: boolean;
  /** Whether the signed first moment is tracked too (dart's mean compensation). */
  moments: boolean;
}

export class Tracer {
  /** Per neuron: sum of a^2 (l2) or EMA of |a| (ema). */
  readonly energy: Float32Array[];
  /** Per neuron: sum (or EMA) of a, signed; tracked when `moments` is set. */
  readonly firstMoment: Float32Array[];
  /**
   * Per layer, per output dimension: sum (or EMA, same weights) of the FFN's output W_down a,
   * tracked with `moments`. It equals W_down times firstMoment (to rounding), so DART's
   * mean-compensation bias needs no pass over the pruned neurons' W_down columns.
   */
  readonly outputMoment: Float32Array[];
  /** False when outputMoment misses some traced tokens (a state saved before it existed). */
  outputComplete = true;
  /**
   * Per layer, sums over traced tokens of cos(h, m) (entries 0..L-1) and of
   * ||m - h|| / ||h|| (entries L..2L-1), h the FFN block's input and m its output.
   */
  readonly impact: Float64Array;
  tokens = 0;
  /** ema: whether the opening forward is over (later tokens take EMA steps). */
  opened = false;
  readonly opts: TracerOptions;
  private readonly L: number;
  private readonly h: Float32Array[]; // FFN input saved until the FFN output arrives

  constructor(nLayers: number, hiddenDim: number, dim: number, opts: TracerOptions) {
    this.opts = opts;
    this.L = nLayers;
    this.energy = Array.from({ length: nLayers }, () => new Float32Array(hiddenDim));
    this.firstMoment = Array.from({ length: opts.moments ? nLayers : 0 }, () => new Float32Array(hiddenDim));
    this.outputMoment = Array.from({ length: opts.moments ? nLayers : 0 }, () => new Float32Array(dim));
    this.impact = new Float64Array(2 * nLayers);
    this.h = Array.from({ length: nLayers }, () => new Float32Array(dim));
  }

  reset(): void {
    for (const e of this.energy) e.fill(0);
    for (const a of this.firstMoment) a.fill(0);
    for (const a of this.outputMoment) a.fill(0);
    this.outputComplete = true;
    this.impact.fill(0);
    this.tokens = 0;
    this.opened = false;
  }

  /**
   * Call before a traced token's forward pass. The opening forward is every prompt token
   * of the trace, or its first token when the trace starts on a generated token.
   */
  beginToken(phase: "prompt" | "decode"): void {
    if (phase === "decode" && this.tokens > 0) this.opened = true;
  }

  /** Call once per traced token, after its forward pass. */
  endToken(): void {
    this.tokens++;
  }

  activation(layer: number, a: Float32Array): void {
    const e = this.energy[layer]!;
    const m = this.opts.moments ? this.firstMoment[layer]! : null;
    const n = e.length;
    let ss = 1;
    if (this.opts.normalizePerToken) {
      ss = 0;
      for (let j = 0; j < n; j++) ss += a[j]! * a[j]!;
    }
    if (this.opts.aggregation === "l2") {
      const inv = ss > 0 ? 1 / ss : 0;
      for (let j = 0; j < n; j++) e[j] = e[j]! + a[j]! * a[j]! * inv;
      if (m) for (let j = 0; j < n; j++) m[j] = m[j]! + a[j]!;
      return;
    }
    const scale = ss > 0 ? 1 / Math.sqrt(ss) : 0;
    const [keep, add] = this.emaWeights();
    for (let j = 0; j < n; j++) e[j] = keep * e[j]! + add * Math.abs(a[j]!) * scale;
    if (m) for (let j = 0; j < n; j++) m[j] = keep * m[j]! + add * a[j]!;
  }

  /** This token's EMA step: new = keep * old + add * value. */
  private emaWeights(): [number, number] {
    const d = this.opts.emaDecay;
    if (this.opened) return [d, 1 - d];
    // Running decay-weighted mean of the opening forward's k = tokens + 1 values:
    // W_k = 1 + d + ... + d^(k-1), mean_k = (d W_(k-1) mean_(k-1) + x) / W_k.
    const k = this.tokens + 1;
    const wk = (1 - d ** k) / (1 - d);
    return [(d * (1 - d ** (k - 1))) / (1 - d) / wk, 1 / wk];
  }

  ffnInput(layer: number, h: Float32Array): void {
    if (this.opts.importance) this.h[layer]!.set(h);
  }

  ffnOutput(layer: number, m: Float32Array): void {
    if (this.opts.moments) this.accumulateOutput(layer, m);
    if (!this.opts.importance) return;
    const h = this.h[layer]!;
    let hh = 0, diff = 0;
    for (let i = 0; i < h.length; i++) {
      hh += h[i]! * h[i]!;
      diff += (m[i]! - h[i]!) ** 2;
    }
    this.impact[layer] = this.impact[layer]! + cosine(h, m);
    this.impact[this.L + layer] = this.impact[this.L + layer]! + (hh > 0 ? Math.sqrt(diff / hh) : 0);
  }

  private accumulateOutput(layer: number, m: Float32Array): void {
    const o = this.outputMoment[layer]!;
    const n = o.length;
    if (this.opts.aggregation === "l2") {
      for (let i = 0; i < n; i++) o[i] = o[i]! + m[i]!;
      return;
    }
    const [keep, add] = this.emaWeights();
    for (let i = 0; i < n; i++) o[i] = keep * o[i]! + add * m[i]!;
  }

  /** What rankings read as per-neuron "energy" (they take its square root): sum a^2, or EMA(|a|)^2. */
  rankingEnergy(layer: number): Float32Array {
    const e = this.energy[layer]!;
    return this.opts.aggregation === "l2" ? e : Float32Array.from(e, (v) => v * v);
  }

  /**
   * Per-token moments for one layer: E[a^2] and E[a] (with moments). l2 divides the sums by
   * the token count; ema has no E[a^2], so (EMA |a|)^2 stands in for it.
   */
  means(layer: number): { m2: Float32Array; m1: Float32Array | null } {
    const n = this.energy[layer]!.length;
    const m2 = new Float32Array(n);
    const m1 = this.opts.moments ? new Float32Array(n) : null;
    this.meansInto(layer, m2, m1);
    return { m2, m1 };
  }

  /** means() into caller-owned arrays (a re-mask allocates nothing per layer). */
  meansInto(layer: number, m2: Float32Array, m1: Float32Array | null): void {
    const ema = this.opts.aggregation === "ema";
    const div = this.divisor();
    const e = this.energy[layer]!;
    for (let j = 0; j < e.length; j++) m2[j] = ema ? e[j]! * e[j]! : e[j]! / div;
    if (!m1) return;
    const f = this.firstMoment[layer]!;
    for (let j = 0; j < f.length; j++) m1[j] = f[j]! / div;
  }

  /** The traced FFN output's mean (E[W_down a], the same weighting as means()), into `out`. */
  meanOutputInto(layer: number, out: Float32Array): void {
    const div = this.divisor();
    const o = this.outputMoment[layer]!;
    for (let i = 0; i < o.length; i++) out[i] = o[i]! / div;
  }

  private divisor(): number {
    return this.opts.aggregation === "ema" || this.tokens === 0 ? 1 : this.tokens;
  }

  /** Layer importance S_l = (1 - mean cos(h, m)) * mean(||m - h|| / ||h||), as the reference multiplies two means. */
  meanImportance(): number[] {
    const n = this.tokens;
    return Array.from({ length: this.L }, (_, l) => (n ? (1 - this.impact[l]! / n) * (this.impact[this.L + l]! / n) : 0));
  }
}
