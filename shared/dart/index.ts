// Entry point: createPruner builds the pruner for a method, or restores one from its saved state.
import type { InferenceState, Transformer } from "../engine/transformer.ts";
import { MaskingPruner, type PrunerOptions } from "./masking-pruner.ts";
import type { Pruner } from "./pruner.ts";
import { sameSettings, type DartSettings } from "./settings.ts";

export type { Pruner, DriftEvent, LayerMaskSummary, PrunerStats } from "./pruner.ts";
export type { FfnBuilder, PrunerOptions } from "./masking-pruner.ts";
export { StateFormatError } from "./state-codec.ts";
export * from "./settings.ts";

/**
 * A pruner for `settings`, or, with `saved` (from pruner.serialize()), the pruner that
 * state describes, continuing exactly where it stopped. Saved state made under other
 * settings is discarded in favour of a fresh pruner: settings changed between turns.
 * `options.ffnBuilder` replaces how compacted FFNs are built (default: from tf's dense weights).
 */
export function createPruner(tf: Transformer, state: InferenceState, settings: DartSettings, saved?: Uint8Array, options: PrunerOptions = {}): Pruner {
  if (saved && saved.byteLength > 0) {
    const p = MaskingPruner.restore(tf, state, saved, options);
    if (sameSettings(p.settings, settings)) return p;
  }
  return new MaskingPruner(tf, state, settings, options);
}
