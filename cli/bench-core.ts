// The decode-speed measurement behind `dart bench`: prefill a prompt, decode
// greedily, count the weight bytes each decoded token reads, and repeat with the
// configurations interleaved so a noisy machine slows them all alike.
import { createPruner, parseDartSettings, type Pruner } from "../shared/dart/index.ts";
import { compactOf } from "../shared/engine/compact-ffn.ts";
import type { InferenceState, Transformer } from "../shared/engine/transformer.ts";
import { kvDim, type ModelConfig } from "../shared/model/config.ts";
import type { WeightFormat } from "../shared/engine/quantize-weights.ts";
import { median } from "./membw.ts";
import { argmax } from "../shared/engine/sampler.ts";
import { prefillPrompt } from "../shared/engine/generate.ts";

export interface BenchConfig {
  /** A DART method (createPruner), or "mask": static compacted masks of random neurons, installed directly. */
  method: string;
  sparsity: number;
  tf: Transformer;
  /** Name reported for the backend (the Transformer's backend may serve several, e.g. wasm and wasm-mt). */
  backend: string;
  /** Called before each measured run (e.g. sets the thread count). */
  setup?(): void;
}

export interface BenchResult {
  method: string;
  sparsity: number;
  backend: string;
  /** Weight format the matrices and FFN bundles are held in. */
  weights: WeightFormat;
  /** Decode tokens per second, all decode time counted (the pruner's mask building included). */
  tokensPerSecond: number;
  /** Decode tokens per second of the forward passes alone (steady state, no mask building). */
  forwardTokensPerSecond: number;
  /** Seconds per run spent switching masks during decode (DART's scoring, gathering, upload). */
  maskSeconds: number;
  prefillTokensPerSecond: number;
  weightBytesPerToken: number;
  denseWeightBytesPerToken: number;
  effectiveSparsity: number;
  effectiveGBps: number;
  /** Decoded tokens whose FFN ran dense in every layer (DART tracing), over all repeats. */
  denseDecodeTokens: number;
  /** Re-masks per run (DART drift), median over repeats. */
  remasks: number;
  decodeTokensPerSecondRuns: number[];
}

/**
 * Bytes of weights one token reads: attention, norms, classifier, one embedding row, and the FFN in force.
 * Matrices take 4 bytes a weight in fp32, 1.125 in Q8_0 (an int8, plus an f32 scale per 32).
 */
export function weightBytesPerToken(c: ModelConfig, ffn: readonly ({ kept: Int32Array } | null)[], format: WeightFormat = "f32"): { bytes: number; neurons: number } {
  const kv = kvDim(c);
  const perWeight = format === "q8_0" ? 1 + 4 / 32 : 4;
  let vectorFloats = c.dim + c.dim; // embedding row, final norm
  let matrixWeights = c.vocabSize * c.dim; // classifier
  let neurons = 0;
  for (let l = 0; l < c.nLayers; l++) {
    const k = ffn[l] ? ffn[l]!.kept.length : c.hiddenDim;
    neurons += k;
    vectorFloats += 2 * c.dim;
    matrixWeights += 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * k * c.dim;
  }
  return { bytes: vectorFloats * 4 + matrixWeights * perWeight, neurons };
}

/** Deterministic pseudo-random prompt ids (synthetic models have no tokenizer). */
export function promptIds(n: number, vocab: number): number[] {
  return Array.from({ length: n }, (_, i) => (i === 0 ? 1 : (i * 7919 + 13) % vocab));
}


/** Seeded random kept neurons per layer at `sparsity` (which neurons does not matter for speed). */
function installMasks(tf: Transformer, state: InferenceState, sparsity: number, seed: number): void {
  const c = tf.config;
  const k = Math.round(c.hiddenDim * (1 - sparsity));
  let s = seed >>> 0 || 1;
  for (let l = 0; l < c.nLayers; l++) {
    const idx = Array.from({ length: c.hiddenDim }, (_, i) => i);
    for (let i = idx.length - 1; i > 0; i--) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const j = s % (i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const kept = Int32Array.from(idx.slice(0, k).sort((a, b) => a - b));
    state.ffn[l] = compactOf(tf.ffn[l]!, kept); // an index list over the resident bundles
  }
}

interface OneRun {
  prefillTps: number;
  decodeTps: number;
  forwardTps: number;
  maskMs: number;
  bytes: number[];
  neurons: number[];
  denseTokens: number;
  remasks: number;
}

function runOnce(cfg: BenchConfig, prompt: number[], tokens: number, seed: number): OneRun {
  cfg.setup?.();
  const tf = cfg.tf;
  const c = tf.config;
  const state = tf.newState();
  let pruner: Pruner | null = null;
  if (cfg.method === "mask") installMasks(tf, state, cfg.sparsity, seed);
  else pruner = createPruner(tf, state, parseDartSettings({ method: cfg.method, sparsity: cfg.sparsity }));
  const hooks = pruner?.hooks;
  let logits: Float32Array = state.logits;
  const t0 = performance.now();
  // The prompt in blocks (matrix-matrix products), as generate() runs it.
  logits = prefillPrompt(tf, state, prompt, 0, { hooks, beforeForward: pruner ? (p, t, ph) => pruner!.beforeForward(p, t, ph) : undefined });
  const t1 = performance.now();
  const bytes: number[] = [], neurons: number[] = [];
  let denseTokens = 0;
  let maskMs = 0, forwardMs = 0;
  const uploaded = new WeakSet<object>();
  for (const f of state.ffn) if (f) uploaded.add(f);
  for (let i = 0; i < tokens; i++) {
    const pos = prompt.length + i;
    const tok = argmax(logits);
    const ts = performance.now();
    pruner?.beforeForward(pos, tok, "decode");
    // A new mask's compacted FFNs go into backend memory here, so the switch is timed as one.
    for (const f of state.ffn) if (f && !uploaded.has(f)) (uploaded.add(f), tf.backend.prepare(f));
    const tm = performance.now();
    logits = tf.forward(state, tok, pos, hooks);
    forwardMs += performance.now() - tm;
    maskMs += tm - ts;
    const w = weightBytesPerToken(c, state.ffn, tf.ffn[0]!.format);
    bytes.push(w.bytes);
    neurons.push(w.neurons);
    if (state.ffn.every((f) => f === null)) denseTokens++;
  }
  const remasks = pruner?.stats().remasks ?? 0;
  tf.releaseState(state); // KV cache and compacted-FFN blocks go back to the backend for the next run
  return { prefillTps: prompt.length / ((t1 - t0) / 1000), decodeTps: tokens / ((maskMs + forwardMs) / 1000), forwardTps: tokens / (forwardMs / 1000), maskMs, bytes, neurons, denseTokens, remasks };
}

/** Measures every config `repeats` times, interleaved; medians per config. */
export function bench(
  configs: BenchConfig[],
  opts: { promptTokens: number; tokens: number; repeats: number; seed: number; between?: () => void },
): BenchResult[] {
  const runs: OneRun[][] = configs.map(() => []);
  // One unmeasured warm-up pass per config (JIT, page faults, first upload of compacted FFNs).
  configs.forEach((cfg) => runOnce(cfg, promptIds(Math.min(opts.promptTokens, 4), cfg.tf.config.vocabSize), Math.min(opts.tokens, 4), opts.seed));
  for (let r = 0; r < opts.repeats; r++) {
    opts.between?.();
    configs.forEach((cfg, i) => {
      const prompt = promptIds(opts.promptTokens, cfg.tf.config.vocabSize);
      runs[i]!.push(runOnce(cfg, prompt, opts.tokens, opts.seed + r));
    });
  }
  return configs.map((cfg, i) => {
    const c = cfg.tf.config;
    const rs = runs[i]!;
    const allBytes = rs.flatMap((r) => r.bytes);
    const allNeurons = rs.flatMap((r) => r.neurons);
    const weightBytes = allBytes.reduce((a, b) => a + b, 0) / allBytes.length;
    const tps = median(rs.map((r) => r.decodeTps));
    return {
      method: cfg.method,
      sparsity: cfg.method === "dense" ? 0 : cfg.sparsity,
      backend: cfg.backend,
      weights: cfg.tf.ffn[0]!.format,
      tokensPerSecond: tps,
      forwardTokensPerSecond: median(rs.map((r) => r.forwardTps)),
      maskSeconds: median(rs.map((r) => r.maskMs / 1000)),
      prefillTokensPerSecond: median(rs.map((r) => r.prefillTps)),
      weightBytesPerToken: weightBytes,
      denseWeightBytesPerToken: weightBytesPerToken(c, [], cfg.tf.ffn[0]!.format).bytes,
      effectiveSparsity: 1 - allNeurons.reduce((a, b) => a + b, 0) / (allNeurons.length * c.nLayers * c.hiddenDim),
      effectiveGBps: (weightBytes * tps) / 1e9,
      denseDecodeTokens: rs.reduce((a, r) => a + r.denseTokens, 0),
      remasks: median(rs.map((r) => r.remasks)),
      decodeTokensPerSecondRuns: rs.map((r) => r.decodeTps),
    };
  });
}
