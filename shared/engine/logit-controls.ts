// Request-level logit controls, as OpenAI defines them, applied to the raw logits before
// temperature and top-p:
//   mu[j] -= c[j] * frequency_penalty + (c[j] > 0 ? 1 : 0) * presence_penalty + ... ; mu[j] += logit_bias[j]
// where c[j] counts how often token j was generated so far in this completion (the prompt
// does not count, as in vLLM). And the log-probabilities OpenAI's `logprobs` reports: the
// log-softmax of the logits after these controls (before temperature and top-p).

export interface LogitControlOptions {
  /** -2..2: subtracted once per earlier occurrence of the token in the completion. */
  frequencyPenalty?: number;
  /** -2..2: subtracted once if the token occurred in the completion at all. */
  presencePenalty?: number;
  /** Token id -> -100..100, added to the token's logit. */
  logitBias?: Record<string, number>;
}

export class LogitControls {
  private readonly counts = new Map<number, number>();
  private readonly frequency: number;
  private readonly presence: number;
  private readonly bias: [number, number][];

  constructor(opts: LogitControlOptions) {
    this.frequency = opts.frequencyPenalty ?? 0;
    this.presence = opts.presencePenalty ?? 0;
    this.bias = Object.entries(opts.logitBias ?? {}).map(([id, b]) => [Number(id), b]);
  }

  /** True when applying changes nothing (all zero), so callers can skip the work. */
  get inactive(): boolean {
    return this.frequency === 0 && this.presence === 0 && this.bias.every(([, b]) => b === 0);
  }

  /** Adjusts `logits` in place for the tokens generated so far. */
  apply(logits: Float32Array): void {
    if (this.frequency !== 0 || this.presence !== 0) {
      for (const [id, c] of this.counts) logits[id] = logits[id]! - c * this.frequency - this.presence;
    }
    for (const [id, b] of this.bias) if (id < logits.length) logits[id] = logits[id]! + b;
  }

  /** Records a generated token. */
  accept(id: number): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }
}

export interface TokenLogprob {
  id: number;
  logprob: number;
  /** The most likely tokens at this position, most likely first (ties: lower id first). */
  top: { id: number; logprob: number }[];
}

/** log-softmax of `logits` (not modified), computed in float64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/** The chosen token's log-probability and the `k` most likely tokens, from log-probabilities. */
export function pickLogprobs(logprobs: Float64Array, chosen: number, k: number): TokenLogprob {
  const top: { id: number; logprob: number }[] = [];
  if (k > 0) {
    // Keep the k best in a small sorted list: k <= 20, vocabularies are large.
    for (let i = 0; i < logprobs.length; i++) {
      const lp = logprobs[i]!;
      if (top.length === k && lp <= top[k - 1]!.logprob) continue;
      let at = top.length;
      while (at > 0 && top[at - 1]!.logprob < lp) at--;
      top.splice(at, 0, { id: i, logprob: lp });
      if (top.length > k) top.pop();
    }
  }
  return { id: chosen, logprob: logprobs[chosen]!, top };
}
