// Per-model quantities DART needs, computed once per model and shared by every session:
// the forward proxy, W_down column norms, and generic activation statistics (the
// calibration-free prior: either text the model writes itself from BOS, or a fixed
// generic text). All are memoised per Transformer; callers may inject cached copies.
import type { Transformer } from "../engine/transformer.ts";
import type { ForwardHooks } from "../engine/hooks.ts";
import { Sampler } from "../engine/sampler.ts";
import { computeForwardProxy, downColumnNorms, type ForwardProxy } from "./forward-proxy.ts";
import { GENERIC_TEXT } from "./generic-text.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";

export type PriorSource = "self" | "text";

/** Mean a^2 per neuron per layer over a generic token stream. */
export interface GenericStats {
  meanEnergy: Float32Array[];
  /** Mean a per neuron per layer (signed). */
  meanActivation: Float32Array[];
  tokens: number;
}

interface ModelPriors {
  proxy?: ForwardProxy;
  downNorms?: Float32Array[];
  generic: Partial<Record<PriorSource, GenericStats>>;
  /** Per source: W_down times the prior's mean activation, per layer (the whole layer's mean output). */
  priorOutput: Partial<Record<PriorSource, Float32Array[]>>;
  /** Masks and biases built from the prior alone, per settings (a drift re-mask installs them). */
  plans: Map<string, unknown>;
  tokenizer?: Tokenizer;
}

const cache = new WeakMap<Transformer, ModelPriors>();

function priors(tf: Transformer): ModelPriors {
  let p = cache.get(tf);
  if (!p) cache.set(tf, (p = { generic: {}, priorOutput: {}, plans: new Map() }));
  return p;
}

export function forwardProxy(tf: Transformer, onLayer?: (done: number, total: number) => void): ForwardProxy {
  const p = priors(tf);
  return (p.proxy ??= computeForwardProxy(tf.config, tf.weights, undefined, tf.ffn, onLayer));
}

/** Installs a forward proxy computed earlier (for example read from a cache file). */
export function setForwardProxy(tf: Transformer, proxy: ForwardProxy): void {
  const p = priors(tf);
  p.proxy = proxy;
  p.plans.clear();
}

export function downNorms(tf: Transformer): Float32Array[] {
  const p = priors(tf);
  return (p.downNorms ??= downColumnNorms(tf.config, tf.weights, tf.ffn));
}

/** The fixed-text prior needs a tokenizer; the self-generated one does not. */
export function setTokenizer(tf: Transformer, tok: Tokenizer): void {
  priors(tf).tokenizer = tok;
}

export const GENERIC_TOKENS = 2048;
const SELF_SEQUENCE = 256;
const SELF_SEED = 1234;

/**
 * Token streams the prior is measured on; each inner array starts at position 0 (BOS first).
 * The "self" streams are sampled with `hooks` on their forward passes, and `onToken` hears
 * each token, so their statistics need no second pass.
 */
function genericSequences(tf: Transformer, source: PriorSource, tokens = GENERIC_TOKENS, hooks?: ForwardHooks, onToken?: (done: number, total: number) => void): number[][] {
  if (source === "text") {
    const tok = priors(tf).tokenizer;
    if (!tok) throw new Error("the text prior needs setTokenizer(tf, tokenizer) first");
    const ids = tok.encode(GENERIC_TEXT, { bos: false });
    const seqs: number[][] = [];
    const len = Math.min(SELF_SEQUENCE, tf.config.seqLen) - 1;
    for (let i = 0; i < ids.length; i += len) seqs.push([tok.bosId, ...ids.slice(i, i + len)]);
    return seqs;
  }
  // The model's own unconditional text: seeded sampling at temperature 1 from BOS, each
  // sequence ending at an end-of-generation token (the tokenizer's; llama2.c's ids without one).
  const tok = priors(tf).tokenizer;
  const bos = tok?.bosId ?? 1;
  const ends = new Set(tok ? tok.eogIds : [2]);
  const seqs: number[][] = [];
  const sampler = new Sampler(tf.config.vocabSize, { temperature: 1, seed: SELF_SEED });
  const state = tf.newState();
  const len = Math.min(SELF_SEQUENCE, tf.config.seqLen);
  let total = 0;
  while (total < tokens) {
    const seq = [bos];
    let logits = tf.forward(state, bos, 0, hooks);
    while (seq.length < len) {
      const next = sampler.sample(logits);
      if (next === bos || ends.has(next)) break;
      seq.push(next);
      logits = tf.forward(state, next, seq.length - 1, hooks);
    }
    seqs.push(seq);
    total += seq.length;
    onToken?.(Math.min(total, tokens), tokens);
  }
  return seqs;
}

/** `onToken(done, total)` reports progress (tokens forwarded of the sequences' total). */
export function genericStats(tf: Transformer, source: PriorSource, onToken?: (done: number, total: number) => void): GenericStats {
  const p = priors(tf);
  const hit = p.generic[source];
  if (hit) return hit;
  const { nLayers, hiddenDim } = tf.config;
  const sums = Array.from({ length: nLayers }, () => new Float64Array(hiddenDim));
  const firsts = Array.from({ length: nLayers }, () => new Float64Array(hiddenDim));
  let count = 0;
  const state = tf.newState();
  const hooks = {
    ffnActivation(l: number, _pos: number, a: Float32Array) {
      const s = sums[l]!;
      const f = firsts[l]!;
      for (let j = 0; j < hiddenDim; j++) {
        s[j] = s[j]! + a[j]! * a[j]!;
        f[j] = f[j]! + a[j]!;
      }
    },
  };
  if (source === "self") {
    count = genericSequences(tf, source, GENERIC_TOKENS, hooks, onToken).reduce((n, s) => n + s.length, 0);
  } else {
    const seqs = genericSequences(tf, source);
    const total = seqs.reduce((n, s) => n + s.length, 0);
    for (const seq of seqs) {
      seq.forEach((t, pos) => tf.forward(state, t, pos, hooks));
      count += seq.length;
      onToken?.(count, total);
    }
  }
  const mean = (arr: Float64Array[]) => arr.map((s) => Float32Array.from(s, (v) => v / count));
  const stats = { meanEnergy: mean(sums), meanActivation: mean(firsts), tokens: count };
  p.generic[source] = stats;
  return stats;
}

/** Installs generic statistics computed earlier. */
export function setGenericStats(tf: Transformer, source: PriorSource, stats: GenericStats): void {
  const p = priors(tf);
  p.generic[source] = stats;
  delete p.priorOutput[source];
  p.plans.clear();
}

/**
 * Per layer, sum over every neuron j of (prior mean activation of j) * W_down[:, j]: what the
 * whole FFN outputs on average under the prior. Computed once per model (one read of W_down);
 * DART's bias for a mask is then this minus the kept neurons' part (masking-pruner.ts).
 */
export function priorOutput(tf: Transformer, source: PriorSource): Float32Array[] {
  const p = priors(tf);
  const hit = p.priorOutput[source];
  if (hit) return hit;
  const mean = genericStats(tf, source).meanActivation;
  const out = tf.ffn.map((b, l) => {
    const o = new Float32Array(tf.config.dim);
    tf.backend.downSum(o, b, b.allSlots(), mean[l]!);
    return o;
  });
  return (p.priorOutput[source] = out);
}

/**
 * A per-model memo for a value that depends only on the model and `key` (the prior plan of
 * given settings): computed by `build` on first use, cleared when the priors change.
 */
export function memoPlan<T>(tf: Transformer, key: string, build: () => T): T {
  const plans = priors(tf).plans;
  if (plans.has(key)) return plans.get(key) as T;
  const v = build();
  // Settings come from clients (any sparsity): keep the most recent few, oldest out first.
  if (plans.size >= MAX_PLANS) plans.delete(plans.keys().next().value!);
  plans.set(key, v);
  return v;
}

const MAX_PLANS = 16;
