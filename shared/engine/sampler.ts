// Token sampling: greedy (temperature 0), temperature, nucleus (top-p), seeded.
import { softmax } from "./kernels.ts";

export interface SamplerOptions {
  /** 0 means greedy (argmax). */
  temperature?: number;
  /** Nucleus sampling threshold in (0, 1]; 1 disables it. */
  topP?: number;
  seed?: number;
}

/** xorshift32-based PRNG: same seed, same stream, on every platform. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = (seed >>> 0) || 0x9e3779b9;
  }
  nextU32(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }
  /** Uniform in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }
}

export function argmax(x: Float32Array): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

export class Sampler {
  readonly temperature: number;
  readonly topP: number;
  private readonly rng: Rng;
  private readonly order: Int32Array;

  constructor(vocabSize: number, opts: SamplerOptions = {}) {
    this.temperature = opts.temperature ?? 0;
    this.topP = opts.topP ?? 1;
    if (!(this.temperature >= 0) || !Number.isFinite(this.temperature)) throw new RangeError(`temperature must be >= 0, got ${opts.temperature}`);
    if (!(this.topP > 0 && this.topP <= 1)) throw new RangeError(`top-p must be in (0, 1], got ${opts.topP}`);
    this.rng = new Rng(opts.seed ?? Date.now());
    this.order = new Int32Array(vocabSize);
  }

  /** Picks the next token; modifies `logits` in place when sampling. */
  sample(logits: Float32Array): number {
    if (this.temperature === 0) return argmax(logits);
    for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / this.temperature;
    softmax(logits);
    const r = this.rng.next();
    return this.topP < 1 ? this.sampleTopP(logits, r) : sampleMult(logits, r);
  }

  /** Samples from the smallest set of tokens whose probabilities sum past topP. */
  private sampleTopP(probs: Float32Array, r: number): number {
    const n = probs.length;
    // Tokens below (1 - p) / (n - 1) cannot be in the nucleus; dropping them keeps the sort short.
    const cutoff = (1 - this.topP) / (n - 1);
    let m = 0;
    for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) this.order[m++] = i;
    const idx = Array.from(this.order.subarray(0, m)).sort((a, b) => probs[b]! - probs[a]! || a - b);
    let cum = 0;
    let last = idx.length - 1;
    for (let i = 0; i < idx.length; i++) {
      cum += probs[idx[i]!]!;
      if (cum > this.topP) {
        last = i;
        break;
      }
    }
    const target = r * cum;
    let acc = 0;
    for (let i = 0; i <= last; i++) {
      acc += probs[idx[i]!]!;
      if (target < acc) return idx[i]!;
    }
    return idx[last]!;
  }
}

function sampleMult(probs: Float32Array, r: number): number {
  let cdf = 0;
  for (let i = 0; i < probs.length; i++) {
    cdf += probs[i]!;
    if (r < cdf) return i;
  }
  return probs.length - 1;
}
