// The per-conversation pruning interface the engine, CLI and inference node use.
// A Pruner switches each layer's FFN between dense and compacted before every
// forward call, observes activations through hooks, and serialises its state
// so a Session Durable Object can persist it between turns.
import type { ForwardHooks } from "../engine/hooks.ts";
import type { InferenceState, Transformer } from "../engine/transformer.ts";
import type { DartSettings } from "./settings.ts";

export interface DriftEvent {
  /** Position of the last token of the window (or of the turn start). */
  pos: number;
  kind: "mask" | "window" | "turn";
  /** Window cosine to the baseline and the threshold in force (window events). */
  cosine?: number;
  threshold?: number;
  /** Whether this event triggered a dense re-trace. */
  remask: boolean;
}

export interface LayerMaskSummary {
  layer: number;
  kept: number;
  total: number;
}

export interface PrunerStats {
  /** Tokens that went through the forward pass. */
  tokens: number;
  /** Of those, tokens whose FFN ran dense (tracing, or no mask yet). */
  denseTokens: number;
  /** Fraction of FFN neuron evaluations skipped over all tokens. */
  effectiveSparsity: number;
  remasks: number;
}

export interface Pruner {
  readonly settings: DartSettings;
  readonly hooks: ForwardHooks;
  /** Called before each forward call; installs dense or compacted FFNs in the state. */
  beforeForward(pos: number, token: number, phase: "prompt" | "decode"): void;
  /** A new user turn of `nTokens` tokens starts at `pos` (a multi-token prefill re-traces). */
  beginTurn(pos: number, nTokens: number): void;
  events(): DriftEvent[];
  masks(): LayerMaskSummary[];
  stats(): PrunerStats;
  /** Small versioned binary of the tracer state (scores, masks, drift baseline). */
  serialize(): Uint8Array;
}

export type PrunerFactory = (tf: Transformer, state: InferenceState, settings: DartSettings, saved?: Uint8Array) => Pruner;
