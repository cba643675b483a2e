// Fitting a conversation into the model's context: BOS + entries + room to generate.

export const DEFAULT_MAX_TOKENS = 128;

export class ContextOverflowError extends Error {
  readonly needed: number;
  constructor(needed: number, seqLen: number) {
    super(`this turn needs ${needed} tokens (its new messages plus the completion) but the model's context is ${seqLen} tokens; send a shorter message or a smaller max_tokens`);
    this.name = "ContextOverflowError";
    this.needed = needed;
  }
}

export interface Fit {
  /** Oldest history entries left out. */
  dropped: number;
  maxTokens: number;
}

/**
 * Drops the oldest history entries until BOS + the rest + the completion fit in `seqLen`.
 * New entries are never dropped. Without a requested limit, the completion gets
 * DEFAULT_MAX_TOKENS, or what is left once the history is dropped.
 */
export function fitContext(historyLens: number[], newLens: number[], requested: number | null, seqLen: number): Fit {
  const newTotal = 1 + newLens.reduce((a, b) => a + b, 0);
  const want = requested ?? DEFAULT_MAX_TOKENS;
  let maxTokens = want;
  if (newTotal + want > seqLen) {
    if (requested !== null || newTotal >= seqLen) throw new ContextOverflowError(newTotal + (requested ?? 1), seqLen);
    maxTokens = seqLen - newTotal;
  }
  let total = newTotal + historyLens.reduce((a, b) => a + b, 0) + maxTokens;
  let dropped = 0;
  while (total > seqLen) total -= historyLens[dropped++]!;
  return { dropped, maxTokens };
}

/** Length of the common prefix of two id sequences. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
