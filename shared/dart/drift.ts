// Drift detection on the last layer's attention output (after o_proj).
// Calibration: traced tokens are grouped in windows of `windowSize`; the baseline is
// the mean of all traced tokens, and each window's cosine to a reference gives mu and
// sigma; threshold = mu - max(sigmaFactor * sigma, minMargin). After masking, each
// completed window of new tokens is compared with the baseline: below the threshold
// adds one to the shift pressure, otherwise it decays by one (floor 0).

export interface DriftOptions {
  windowSize: number;
  sigmaFactor: number;
  minMargin: number;
  /** Pressure at which a re-mask triggers. */
  trigger: number;
  /**
   * "in-sample" (the paper): windows are compared with the mean of all traced tokens,
   * themselves included. "leave-one-out": each window is compared with the mean of the
   * other windows, which is how fresh windows will later be compared with the baseline.
   */
  calibration: "in-sample" | "leave-one-out";
}

export const PAPER_DRIFT: DriftOptions = { windowSize: 5, sigmaFactor: 0.1, minMargin: 0.1, trigger: 1, calibration: "in-sample" };

export interface WindowCheck {
  cosine: number;
  threshold: number;
  fired: boolean;
  pressure: number;
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

export class DriftDetector {
  readonly opts: DriftOptions;
  readonly dim: number;
  /** Sums of completed calibration windows (cosine is scale-free, so sums stand in for means). */
  calibWindows: Float32Array[] = [];
  /** Sum of every traced token, and of the window being filled (calibration or monitoring). */
  total: Float32Array;
  current: Float32Array;
  currentCount = 0;
  tracedCount = 0;
  baseline: Float32Array | null = null;
  threshold = 0;
  pressure = 0;

  constructor(dim: number, opts: DriftOptions) {
    this.dim = dim;
    this.opts = opts;
    this.total = new Float32Array(dim);
    this.current = new Float32Array(dim);
  }

  /** Forget everything: a re-trace starts a new calibration. */
  reset(): void {
    this.calibWindows = [];
    this.total.fill(0);
    this.current.fill(0);
    this.currentCount = 0;
    this.tracedCount = 0;
    this.baseline = null;
    this.pressure = 0;
  }

  /** A traced (dense) token's attention output, collected for calibration. */
  observeTraced(v: Float32Array): void {
    for (let i = 0; i < this.dim; i++) {
      this.total[i] = this.total[i]! + v[i]!;
      this.current[i] = this.current[i]! + v[i]!;
    }
    this.tracedCount++;
    if (++this.currentCount === this.opts.windowSize) {
      this.calibWindows.push(this.current.slice());
      this.current.fill(0);
      this.currentCount = 0;
    }
  }

  /** Ends calibration: baseline and threshold from the traced windows. */
  calibrate(): void {
    const wins = this.calibWindows;
    const cos: number[] = [];
    if (this.opts.calibration === "in-sample" || wins.length < 2) {
      for (const w of wins) cos.push(cosine(w, this.total));
    } else {
      const others = new Float32Array(this.dim);
      const sumWins = new Float32Array(this.dim);
      for (const w of wins) for (let i = 0; i < this.dim; i++) sumWins[i] = sumWins[i]! + w[i]!;
      for (const w of wins) {
        for (let i = 0; i < this.dim; i++) others[i] = sumWins[i]! - w[i]!;
        cos.push(cosine(w, others));
      }
    }
    const mu = cos.length ? cos.reduce((a, b) => a + b, 0) / cos.length : 1;
    const sigma = cos.length ? Math.sqrt(cos.reduce((a, c) => a + (c - mu) ** 2, 0) / cos.length) : 0;
    this.baseline = this.total.slice();
    this.threshold = mu - Math.max(this.opts.sigmaFactor * sigma, this.opts.minMargin);
    this.calibWindows = [];
    this.current.fill(0);
    this.currentCount = 0;
    this.pressure = 0;
  }

  /** A masked token's attention output; returns a check when it completes a window. */
  observe(v: Float32Array): WindowCheck | null {
    if (!this.baseline) return null;
    for (let i = 0; i < this.dim; i++) this.current[i] = this.current[i]! + v[i]!;
    if (++this.currentCount < this.opts.windowSize) return null;
    const c = cosine(this.current, this.baseline);
    this.current.fill(0);
    this.currentCount = 0;
    const below = c < this.threshold;
    this.pressure = below ? this.pressure + 1 : Math.max(0, this.pressure - 1);
    return { cosine: c, threshold: this.threshold, fired: this.pressure >= this.opts.trigger, pressure: this.pressure };
  }
}
