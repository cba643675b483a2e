// BENCH STAND-IN, NOT A DART METHOD: a mask source for the transfer bench while
// shared/dart offers only "dense". It re-traces densely at every new turn and every
// `interval` masked tokens (maskingStep tokens each), then keeps the top-k neurons
// per layer by activation L2 over the trace (DART's "magnitude" ranking, uniform
// budget). Masks that follow the context, with no drift detector and no proxy.
import { compactOf } from "../../engine/compact-ffn.ts";
import type { InferenceState, Transformer } from "../../engine/transformer.ts";
import type { Pruner } from "../../dart/pruner.ts";
import type { DartSettings } from "../../dart/settings.ts";

export const INTERVAL_PRUNER_NAME = "interval-magnitude";

export function intervalMagnitudePruner(tf: Transformer, state: InferenceState, settings: DartSettings, interval = 32): Pruner {
  const { nLayers, hiddenDim, dim } = tf.config;
  const k = Math.max(1, Math.round((1 - settings.sparsity) * hiddenDim));
  const acc = Array.from({ length: nLayers }, () => new Float64Array(hiddenDim));
  let traceLeft = 0; // dense tokens still to trace before the next mask
  let sinceMask = 0;
  let masked = false;
  let tokens = 0, denseTokens = 0, remasks = 0;

  const startTrace = (n: number) => {
    acc.forEach((a) => a.fill(0));
    traceLeft = n;
    masked = false;
  };
  const buildMasks = () => {
    acc.forEach((a, l) => {
      const order = Array.from({ length: hiddenDim }, (_, i) => i).sort((x, y) => a[y]! - a[x]! || x - y);
      const kept = Int32Array.from(order.slice(0, k).sort((x, y) => x - y));
      state.ffn[l] = compactOf(tf.ffn[l]!, kept);
    });
    masked = true;
    sinceMask = 0;
    remasks++;
  };

  startTrace(settings.maskingStep);
  return {
    settings,
    hooks: {
      ffnActivation(l, _pos, act, kept) {
        if (kept || traceLeft <= 0) return;
        const a = acc[l]!;
        for (let i = 0; i < hiddenDim; i++) a[i] = a[i]! + act[i]! * act[i]!;
      },
    },
    beforeForward() {
      tokens++;
      if (!masked && traceLeft === 0) buildMasks();
      if (masked && sinceMask >= interval) startTrace(settings.maskingStep);
      if (!masked) {
        state.ffn.fill(null);
        traceLeft--;
        denseTokens++;
      } else sinceMask++;
    },
    beginTurn(_pos, nTokens) {
      if (nTokens > 1) startTrace(nTokens + settings.maskingStep);
    },
    events: () => [],
    masks: () => state.ffn.map((f, layer) => ({ layer, kept: f ? f.kept.length : hiddenDim, total: hiddenDim })),
    stats: () => ({ tokens, denseTokens, effectiveSparsity: tokens ? ((tokens - denseTokens) / tokens) * settings.sparsity : 0, remasks }),
    serialize: () => new Uint8Array(0),
  };
}
