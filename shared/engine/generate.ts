// Prompt in, text out: prefill the prompt, then sample until EOS/BOS or the token limit.
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import { StreamDecoder } from "../tokenizer/tokenizer.ts";
import type { ForwardHooks } from "./hooks.ts";
import { LogitControls, logSoftmax, pickLogprobs, type LogitControlOptions, type TokenLogprob } from "./logit-controls.ts";
import { Sampler, type SamplerOptions } from "./sampler.ts";
import type { InferenceState, Transformer } from "./transformer.ts";

export interface GenerateOptions extends SamplerOptions {
  /** New tokens to generate at most. */
  maxTokens: number;
  hooks?: ForwardHooks;
  /** Called before each forward call; DART uses it to switch FFN masks. */
  beforeForward?(pos: number, token: number, phase: "prompt" | "decode"): void;
  /**
   * Run the prompt in blocks (Transformer.prefill, matrix-matrix products) even though
   * beforeForward is set: it is then called for each prompt token before the block runs,
   * and a block ends where it changes the state's FFNs. Right for DART's pruners (their
   * prompt phase only counts and traces); without beforeForward the prompt is always batched.
   */
  batchPrompt?: boolean;
  /** Streams each generated token's text as soon as its bytes are complete. */
  onText?(text: string, tokenId: number): void;
  /** Stop when the caller no longer wants the result (for example a client disconnect). */
  signal?: AbortSignal;
  /** Frequency / presence penalties and logit bias (OpenAI's), applied before temperature. */
  logitControls?: LogitControlOptions;
  /** Report each generated token's log-probability and this many top alternatives (absent: none). */
  topLogprobs?: number;
  /** Called for each generated token, before its text goes to onText. */
  onToken?(tokenId: number, logprob: TokenLogprob | null): void;
  /** Polled after each token's text: true ends generation with stopReason "stop" (a stop sequence). */
  shouldStop?(): boolean;
}

export interface GenerateResult {
  /** The prompt followed by the continuation, as llama2.c's `run` prints it. */
  text: string;
  /** The continuation alone. */
  completion: string;
  promptIds: number[];
  /** Generated token ids (the stop token excluded). */
  tokens: number[];
  /** "stop": shouldStop asked for it (the last token then never ran through the model, as with "length"). */
  stopReason: "eos" | "length" | "abort" | "stop";
  prefillMs: number;
  decodeMs: number;
}

export class PromptTooLongError extends Error {
  constructor(promptTokens: number, maxTokens: number, seqLen: number) {
    super(`prompt of ${promptTokens} tokens plus ${maxTokens} new tokens exceeds the model's context length of ${seqLen} tokens`);
    this.name = "PromptTooLongError";
  }
}

export function generate(tf: Transformer, tok: Tokenizer, prompt: string, opts: GenerateOptions): GenerateResult {
  // BOS as the file says; a model that takes none still needs one token to start from.
  const promptIds = tok.encode(prompt);
  if (promptIds.length === 0) promptIds.push(tok.bosId);
  return generateFromIds(tf, tok, promptIds, tf.newState(), opts);
}

/** Generation from token ids; `state` may hold a KV cache for a prefix (`startPos` tokens of promptIds). */
export function generateFromIds(
  tf: Transformer,
  tok: Tokenizer,
  promptIds: number[],
  state: InferenceState,
  opts: GenerateOptions,
  startPos = 0,
): GenerateResult {
  const seqLen = tf.config.seqLen;
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new RangeError(`maxTokens must be a non-negative integer, got ${opts.maxTokens}`);
  if (promptIds.length === 0) throw new RangeError("prompt must hold at least one token (BOS)");
  if (promptIds.length + opts.maxTokens > seqLen) throw new PromptTooLongError(promptIds.length, opts.maxTokens, seqLen);
  const sampler = new Sampler(tf.config.vocabSize, opts);
  const controls = opts.logitControls ? new LogitControls(opts.logitControls) : null;
  const promptText = new StreamDecoder(tok);
  let text = "";
  for (const id of promptIds) text += promptText.push(id);
  text += promptText.flush();
  const out = new StreamDecoder(tok, promptIds[promptIds.length - 1]);

  const t0 = performance.now();
  let logits: Float32Array | null = null;
  if (opts.beforeForward && !opts.batchPrompt) {
    for (let pos = startPos; pos < promptIds.length; pos++) {
      opts.beforeForward(pos, promptIds[pos]!, "prompt");
      logits = tf.forward(state, promptIds[pos]!, pos, opts.hooks);
    }
  } else if (startPos < promptIds.length) {
    logits = prefillPrompt(tf, state, promptIds, startPos, opts);
  }
  const t1 = performance.now();
  if (!logits) throw new RangeError("nothing to prefill: the whole prompt is already cached");

  const tokens: number[] = [];
  let completion = "";
  let stopReason: GenerateResult["stopReason"] = "length";
  for (let i = 0; i < opts.maxTokens; i++) {
    if (opts.signal?.aborted) {
      stopReason = "abort";
      break;
    }
    if (controls && !controls.inactive) controls.apply(logits);
    // Log-probabilities before the sampler scales and normalises the logits in place.
    const logprobs = opts.topLogprobs !== undefined ? logSoftmax(logits) : null;
    const next = sampler.sample(logits);
    if (tok.eogIds.has(next) || next === tok.bosId) {
      stopReason = "eos";
      break;
    }
    controls?.accept(next);
    tokens.push(next);
    opts.onToken?.(next, logprobs ? pickLogprobs(logprobs, next, opts.topLogprobs!) : null);
    const piece = out.push(next);
    completion += piece;
    if (piece) opts.onText?.(piece, next);
    if (opts.shouldStop?.()) {
      stopReason = "stop";
      break;
    }
    if (i + 1 === opts.maxTokens) break; // the last token needs no forward pass
    const pos = promptIds.length + i;
    opts.beforeForward?.(pos, next, "decode");
    logits = tf.forward(state, next, pos, opts.hooks);
  }
  const tail = out.flush();
  completion += tail;
  if (tail) opts.onText?.(tail, -1);
  return { text: text + completion, completion, promptIds, tokens, stopReason, prefillMs: t1 - t0, decodeMs: performance.now() - t1 };
}

/** The prompt through Transformer.prefill, in runs over which beforeForward leaves the FFNs unchanged. */
export function prefillPrompt(tf: Transformer, state: InferenceState, ids: number[], startPos: number,
  opts: Pick<GenerateOptions, "beforeForward" | "hooks">): Float32Array {
  let logits: Float32Array | null = null;
  let first = startPos;
  for (let pos = startPos; pos < ids.length; pos++) {
    const before = state.ffn.slice();
    opts.beforeForward?.(pos, ids[pos]!, "prompt");
    if (pos > first && state.ffn.some((f, l) => f !== before[l])) {
      // The FFNs changed for this token: run the tokens before it under the ones they had.
      const now = state.ffn.slice();
      before.forEach((f, l) => (state.ffn[l] = f));
      tf.prefill(state, ids.slice(first, pos), first, opts.hooks);
      now.forEach((f, l) => (state.ffn[l] = f));
      first = pos;
    }
  }
  logits = tf.prefill(state, ids.slice(first), first, opts.hooks);
  return logits;
}
