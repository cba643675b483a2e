// Entry point: createPruner picks the implementation for a method.
import type { InferenceState, Transformer } from "../engine/transformer.ts";
import type { Pruner } from "./pruner.ts";
import { DartSettingsError, type DartSettings } from "./settings.ts";

export type { Pruner, DriftEvent, LayerMaskSummary, PrunerStats } from "./pruner.ts";
export * from "./settings.ts";

/** Dense: every layer runs its full FFN. The reference every method is compared with. */
function densePruner(tf: Transformer, state: InferenceState, settings: DartSettings): Pruner {
  let tokens = 0;
  return {
    settings,
    hooks: {},
    beforeForward() {
      tokens++;
      state.ffn.fill(null);
    },
    beginTurn() {},
    events: () => [],
    masks: () => tf.weights.layers.map((_, layer) => ({ layer, kept: tf.config.hiddenDim, total: tf.config.hiddenDim })),
    stats: () => ({ tokens, denseTokens: tokens, effectiveSparsity: 0, remasks: 0 }),
    serialize: () => new Uint8Array(0),
  };
}

export function createPruner(tf: Transformer, state: InferenceState, settings: DartSettings, saved?: Uint8Array): Pruner {
  void saved;
  if (settings.method === "dense") return densePruner(tf, state, settings);
  throw new DartSettingsError("dart.method", `method ${settings.method} is not available yet`);
}
