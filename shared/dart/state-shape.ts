// Pruner states of a model's shape, for models too large to run here (Llama-3.1-8B): the
// real MaskingPruner and its real serializer over a shape-only transformer (config, no
// weights), filled with seeded values where a session would have statistics. Sizes are
// what matter to storage and transfer; the values are noise.
import type { CompactFfn } from "../engine/compact-ffn.ts";
import type { InferenceState, Transformer } from "../engine/transformer.ts";
import type { ModelConfig } from "../model/config.ts";
import { MaskingPruner } from "./masking-pruner.ts";
import { LLAMA_3_1_8B } from "./overhead.ts";
import { DEFAULT_DART_SETTINGS, type MethodName } from "./settings.ts";

const norm = { ropeTheta: 10000, normEps: 1e-5 };
/** Shapes `dart overhead --shape` and the storage tests use. */
export const STATE_SHAPES: Record<string, ModelConfig> = {
  stories260K: { dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, ...norm },
  stories110M: { dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, seqLen: 1024, ...norm },
  "llama3-8b": LLAMA_3_1_8B,
  /** A 128K-vocabulary model (Llama-3.2-1B's shape). */
  "llama3.2-1b": { dim: 2048, hiddenDim: 8192, nLayers: 16, nHeads: 32, nKvHeads: 8, vocabSize: 128256, seqLen: 131072, ropeTheta: 500000, normEps: 1e-5 },
};

export interface ShapedStateOptions {
  /** A method that traces (dart, dart-paper, griffin); static and random would need the weights. */
  method?: Extract<MethodName, "dart" | "dart-paper" | "griffin">;
  sparsity?: number;
  /** "masked": masks in force (a turn's usual end). "tracing": a trace left open, with accumulators. */
  mode: "masked" | "tracing";
  /** Tokens traced so far (drift calibration windows of 5 while tracing). */
  tracedTokens?: number;
  seed?: number;
}

export function shapedState(config: ModelConfig, o: ShapedStateOptions): Uint8Array {
  let s = (o.seed ?? 1) >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296 - 0.5;
  };
  const fill = (a: Float32Array | Float64Array) => a.forEach((_, i) => (a[i] = rand()));
  const tf = { config } as Transformer; // shape only: the builder below never reads weights
  const settings = { ...DEFAULT_DART_SETTINGS, method: o.method ?? "dart", sparsity: o.sparsity ?? 0.5 };
  const state = { ffn: [] } as unknown as InferenceState; // never run: serialize only
  const p = new MaskingPruner(tf, state, settings, { ffnBuilder: (_l, kept) => ({ kept }) as CompactFfn });
  const H = config.hiddenDim;
  const keep = Math.round(H * (1 - settings.sparsity));
  const masks = Array.from({ length: config.nLayers }, () => {
    const idx = Array.from({ length: H }, (_, i) => i);
    for (let i = H - 1; i > 0; i--) {
      const j = Math.floor((rand() + 0.5) * (i + 1)) % (i + 1);
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    return Int32Array.from(idx.slice(0, keep)).sort();
  });
  const biases = settings.method === "dart" ? masks.map(() => Float32Array.from({ length: config.dim }, rand)) : undefined;
  p.setMasks(masks, biases);
  const traced = o.tracedTokens ?? 256;
  const d = p.drift;
  if (o.mode === "tracing") {
    p.mode = "tracing";
    p.tracer.tokens = traced;
    for (const a of [...p.tracer.energy, ...p.tracer.firstMoment, ...p.tracer.outputMoment, p.tracer.impact]) fill(a);
    if (d) d.calibWindows = Array.from({ length: Math.floor(traced / 5) }, () => Float32Array.from({ length: config.dim }, rand));
  } else {
    p.mode = "masked";
    if (d) d.baseline = Float32Array.from({ length: config.dim }, rand);
  }
  if (d) {
    fill(d.total);
    fill(d.current);
  }
  return p.serialize();
}
