// Perplexity over a token stream in windows of at most the context length.
// Windowing: the text is tokenized once (no BOS), cut into consecutive chunks of
// seqLen - 1 tokens, and each chunk is scored after its own BOS, from a fresh KV
// cache: every token of the text is predicted exactly once, with the context of
// the tokens before it in its window.
import type { Transformer, InferenceState } from "../engine/transformer.ts";
import type { ForwardHooks } from "../engine/hooks.ts";

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood in nats per token. */
  nll: number;
  /** Tokens scored. */
  tokens: number;
  windows: number;
}

/** log-softmax(logits)[target], numerically stable. */
export function logProb(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return logits[target]! - max - Math.log(sum);
}

/** Splits tokens into BOS-prefixed windows of at most `windowLen` tokens (BOS included). */
export function windows(tokens: number[], windowLen: number, bosId: number): number[][] {
  if (windowLen < 2) throw new RangeError("window length must be at least 2");
  const out: number[][] = [];
  for (let i = 0; i < tokens.length; i += windowLen - 1) out.push([bosId, ...tokens.slice(i, i + windowLen - 1)]);
  return out;
}

export interface PerplexityOptions {
  bosId: number;
  windowLen?: number;
  hooks?: ForwardHooks;
  onWindow?(done: number, total: number): void;
}

export function perplexity(tf: Transformer, tokens: number[], opts: PerplexityOptions): PerplexityResult {
  const wins = windows(tokens, opts.windowLen ?? tf.config.seqLen, opts.bosId);
  const state: InferenceState = tf.newState();
  let nllSum = 0;
  let count = 0;
  wins.forEach((win, wi) => {
    for (let pos = 0; pos + 1 < win.length; pos++) {
      const logits = tf.forward(state, win[pos]!, pos, opts.hooks);
      nllSum -= logProb(logits, win[pos + 1]!);
      count++;
    }
    opts.onWindow?.(wi + 1, wins.length);
  });
  const nll = count ? nllSum / count : NaN;
  return { perplexity: Math.exp(nll), nll, tokens: count, windows: wins.length };
}
