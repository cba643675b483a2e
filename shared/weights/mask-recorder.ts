// Watches the FFN masks a pruner installs (state.ffn after each beforeForward) and
// keeps the sequence of distinct masks: every change of the kept sets while all
// layers run compacted is a context shift the weight store has to serve.
import type { InferenceState } from "../engine/transformer.ts";

export class MaskRecorder {
  /** Distinct masks in order: kept neuron indices per layer. */
  readonly masks: Int32Array[][] = [];
  /** Position at which each mask was first in force. */
  readonly positions: number[] = [];
  tokens = 0;
  /** Tokens with at least one dense layer (tracing, or no mask yet). */
  denseTokens = 0;

  observe(state: InferenceState, pos: number): void {
    this.tokens++;
    const ffn = state.ffn;
    if (ffn.some((f) => !f)) {
      this.denseTokens++;
      return;
    }
    const last = this.masks.at(-1);
    const changed = !last || ffn.some((f, l) => !sameKept(f!.kept, last[l]!));
    if (changed) {
      this.masks.push(ffn.map((f) => Int32Array.from(f!.kept)));
      this.positions.push(pos);
    }
  }
}

function sameKept(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
