// Per-layer statistics gathered while a layer's FFN runs dense: activation energy per
// neuron (L2 sum or EMA of a^2, optionally with each token's activation normalised to
// unit length as GRIFFIN does) and DART's layer importance for the auto budget.
import type { Aggregation } from "./settings.ts";

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
  readonly energy: Float32Array[];
  /** Per neuron: sum (or EMA) of a, signed; tracked when `moments` is set. */
  readonly firstMoment: Float32Array[];
  /** Sum over traced tokens of (1 - cos(h, m)) * ||m - h|| / ||h||, per layer. */
  readonly importance: Float64Array;
  tokens = 0;
  readonly opts: TracerOptions;
  private readonly h: Float32Array[]; // FFN input saved until the FFN output arrives
  /** Per layer: whether any token was traced yet (EMA starts from the first value). */
  readonly seenLayers: Uint8Array;

  constructor(nLayers: number, hiddenDim: number, dim: number, opts: TracerOptions) {
    this.opts = opts;
    this.energy = Array.from({ length: nLayers }, () => new Float32Array(hiddenDim));
    this.firstMoment = Array.from({ length: opts.moments ? nLayers : 0 }, () => new Float32Array(hiddenDim));
    this.importance = new Float64Array(nLayers);
    this.h = Array.from({ length: nLayers }, () => new Float32Array(dim));
    this.seenLayers = new Uint8Array(nLayers);
  }

  reset(): void {
    for (const e of this.energy) e.fill(0);
    for (const a of this.firstMoment) a.fill(0);
    this.importance.fill(0);
    this.seenLayers.fill(0);
    this.tokens = 0;
  }

  /** Call once per traced token, after its forward pass. */
  endToken(): void {
    this.tokens++;
  }

  activation(layer: number, a: Float32Array): void {
    const e = this.energy[layer]!;
    const n = e.length;
    let scale = 1;
    if (this.opts.normalizePerToken) {
      let ss = 0;
      for (let j = 0; j < n; j++) ss += a[j]! * a[j]!;
      scale = ss > 0 ? 1 / ss : 0;
    }
    const m = this.opts.moments ? this.firstMoment[layer]! : null;
    if (this.opts.aggregation === "ema" && this.seenLayers[layer]) {
      const d = this.opts.emaDecay;
      for (let j = 0; j < n; j++) e[j] = d * e[j]! + (1 - d) * a[j]! * a[j]! * scale;
      if (m) for (let j = 0; j < n; j++) m[j] = d * m[j]! + (1 - d) * a[j]!;
    } else {
      for (let j = 0; j < n; j++) e[j] = e[j]! + a[j]! * a[j]! * scale;
      if (m) for (let j = 0; j < n; j++) m[j] = m[j]! + a[j]!;
    }
    this.seenLayers[layer] = 1;
  }

  ffnInput(layer: number, h: Float32Array): void {
    if (this.opts.importance) this.h[layer]!.set(h);
  }

  ffnOutput(layer: number, m: Float32Array): void {
    if (!this.opts.importance) return;
    const h = this.h[layer]!;
    let hm = 0, hh = 0, mm = 0, diff = 0;
    for (let i = 0; i < h.length; i++) {
      hm += h[i]! * m[i]!;
      hh += h[i]! * h[i]!;
      mm += m[i]! * m[i]!;
      diff += (m[i]! - h[i]!) ** 2;
    }
    if (hh === 0 || mm === 0) return;
    const cos = hm / Math.sqrt(hh * mm);
    this.importance[layer] = this.importance[layer]! + (1 - cos) * (Math.sqrt(diff) / Math.sqrt(hh));
  }

  /** Per-token mean of a^2 (and of a, with moments) for one layer: sums divided by tokens, EMAs as they are. */
  means(layer: number): { m2: Float32Array; m1: Float32Array | null } {
    const div = this.opts.aggregation === "ema" || this.tokens === 0 ? 1 : this.tokens;
    const m2 = Float32Array.from(this.energy[layer]!, (v) => v / div);
    const m1 = this.opts.moments ? Float32Array.from(this.firstMoment[layer]!, (v) => v / div) : null;
    return { m2, m1 };
  }

  /** Mean layer importance over traced tokens. */
  meanImportance(): number[] {
    return Array.from(this.importance, (s) => (this.tokens ? s / this.tokens : 0));
  }
}
