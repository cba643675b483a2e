// The online evaluation protocol, identical for every method:
// for each document, the prompt (its first promptLen tokens) is prefilled dense and
// traced (pruner.beginTurn), then the rest of the document is fed token by token
// (teacher forcing) as "generated" tokens: masks apply to it, and DART may re-mask
// inside the document. Scored forwards are those at positions promptLen..len-2,
// predicting tokens promptLen+1..len-1; quality and effective sparsity are measured
// over exactly these, so DART's dense tracing tokens count against its savings.
import { createPruner } from "../dart/index.ts";
import type { DartSettings, DriftEvent } from "../dart/index.ts";
import type { Transformer } from "../engine/transformer.ts";
import { generateFromIds } from "../engine/generate.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { EvalDocument } from "./documents.ts";
import { rougeL } from "./rouge.ts";
import { argmax } from "../engine/sampler.ts";

/** Dense log-probabilities at every scored position of a document. */
export interface DenseReference {
  logProbs: Float32Array[];
  argmax: number[];
  /** Dense greedy continuation of the prompt (for ROUGE-L), when asked for. */
  continuation?: number[];
}

export interface DocumentScore {
  name: string;
  tokens: number;
  nll: number;
  agree: number;
  kl: number;
  neuronEvals: number;
  neuronSlots: number;
  denseTokens: number;
  remasks: number;
  events: DriftEvent[];
  switchAt?: number;
  rougeL?: number;
}

export interface OnlineSummary {
  method: string;
  sparsity: number;
  documents: number;
  tokens: number;
  perplexity: number;
  agreement: number;
  klToDense: number;
  effectiveSparsity: number;
  denseTokenFraction: number;
  remasks: number;
  rougeL?: number;
  /** Topic-switch sets: share of drift windows before the switch that triggered a re-mask. */
  falseAlarmRate?: number;
  /** Topic-switch sets: share of documents with a re-mask triggered within 20 tokens after the switch. */
  detectionRate?: number;
  events?: { document: string; events: DriftEvent[] }[];
}

function logSoftmax(logits: Float32Array): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  return Float32Array.from(logits, (v) => v - lse);
}


export function denseReference(tf: Transformer, tok: Tokenizer, doc: EvalDocument, generateTokens = 0): DenseReference {
  const s = tf.newState();
  const logProbs: Float32Array[] = [];
  const am: number[] = [];
  for (let pos = 0; pos + 1 < doc.tokens.length; pos++) {
    const logits = tf.forward(s, doc.tokens[pos]!, pos);
    if (pos >= doc.promptLen) {
      logProbs.push(logSoftmax(logits));
      am.push(argmax(logits));
    }
  }
  const ref: DenseReference = { logProbs, argmax: am };
  if (generateTokens > 0) ref.continuation = greedy(tf, tok, doc, generateTokens, null);
  return ref;
}

function greedy(tf: Transformer, tok: Tokenizer, doc: EvalDocument, n: number, settings: DartSettings | null): number[] {
  const state = tf.newState();
  const prompt = doc.tokens.slice(0, doc.promptLen);
  const pruner = settings ? createPruner(tf, state, settings) : null;
  pruner?.beginTurn(0, prompt.length);
  const maxTokens = Math.min(n, tf.config.seqLen - prompt.length);
  return generateFromIds(tf, tok, prompt, state, {
    maxTokens,
    temperature: 0,
    beforeForward: pruner ? (p, t, ph) => pruner.beforeForward(p, t, ph) : undefined,
    hooks: pruner?.hooks,
  }).tokens;
}

export function scoreDocument(tf: Transformer, tok: Tokenizer, doc: EvalDocument, ref: DenseReference, settings: DartSettings): DocumentScore {
  const state = tf.newState();
  const pruner = createPruner(tf, state, settings);
  const { hiddenDim, nLayers } = tf.config;
  pruner.beginTurn(0, doc.promptLen);
  let nll = 0, agree = 0, kl = 0, evals = 0, slots = 0, denseTokens = 0, n = 0;
  for (let pos = 0; pos + 1 < doc.tokens.length; pos++) {
    const phase = pos < doc.promptLen ? "prompt" : "decode";
    pruner.beforeForward(pos, doc.tokens[pos]!, phase);
    const logits = tf.forward(state, doc.tokens[pos]!, pos, pruner.hooks);
    if (phase === "prompt") continue;
    let used = 0;
    for (let l = 0; l < nLayers; l++) used += state.ffn[l]?.kept.length ?? hiddenDim;
    evals += used;
    slots += nLayers * hiddenDim;
    if (used === nLayers * hiddenDim) denseTokens++;
    const lp = logSoftmax(logits);
    const dense = ref.logProbs[n]!;
    nll -= lp[doc.tokens[pos + 1]!]!;
    if (argmax(logits) === ref.argmax[n]) agree++;
    let k = 0;
    for (let v = 0; v < lp.length; v++) k += Math.exp(dense[v]!) * (dense[v]! - lp[v]!);
    kl += k;
    n++;
  }
  const out: DocumentScore = {
    name: doc.name, tokens: n, nll, agree, kl, neuronEvals: evals, neuronSlots: slots, denseTokens,
    remasks: pruner.stats().remasks, events: pruner.events(), switchAt: doc.switchAt,
  };
  if (ref.continuation) out.rougeL = rougeL(greedy(tf, tok, doc, ref.continuation.length || 1, settings), ref.continuation);
  return out;
}

export function summarize(settings: DartSettings, scores: DocumentScore[], withEvents = false): OnlineSummary {
  const sum = (f: (s: DocumentScore) => number) => scores.reduce((a, s) => a + f(s), 0);
  const tokens = sum((s) => s.tokens);
  const out: OnlineSummary = {
    method: settings.method,
    sparsity: settings.sparsity,
    documents: scores.length,
    tokens,
    perplexity: Math.exp(sum((s) => s.nll) / tokens),
    agreement: sum((s) => s.agree) / tokens,
    klToDense: sum((s) => s.kl) / tokens,
    effectiveSparsity: 1 - sum((s) => s.neuronEvals) / sum((s) => s.neuronSlots),
    denseTokenFraction: sum((s) => s.denseTokens) / tokens,
    remasks: sum((s) => s.remasks),
  };
  if (scores.every((s) => s.rougeL !== undefined)) out.rougeL = sum((s) => s.rougeL!) / scores.length;
  const switched = scores.filter((s) => s.switchAt !== undefined);
  if (switched.length && ["dart", "dart-paper"].includes(settings.method) && settings.drift !== false) {
    let before = 0, alarms = 0, detected = 0;
    for (const s of switched) {
      const windows = s.events.filter((e) => e.kind === "window");
      for (const e of windows) if (e.pos < s.switchAt!) {
        before++;
        if (e.remask) alarms++;
      }
      if (windows.some((e) => e.remask && e.pos >= s.switchAt! && e.pos < s.switchAt! + 20)) detected++;
    }
    out.falseAlarmRate = before ? alarms / before : 0;
    out.detectionRate = detected / switched.length;
  }
  if (withEvents) out.events = scores.map((s) => ({ document: s.name, events: s.events }));
  return out;
}
