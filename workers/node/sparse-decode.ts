// A turn on a sparse node: no dense FFN here, so nothing is traced. The masks come from a
// trace on a full node (in the pruner state the Session object sends), or, when no full
// node could trace, the masks in force continue (the prior's masks for a session that has
// none). The traced tokens reach the KV cache either from the full node (KV handoff: the
// cache then equals a dense prefill) or from a prefill with the new masks.
import { generateFromIds, type GenerateOptions, type GenerateResult } from "../../shared/engine/generate.ts";
import type { ForwardHooks } from "../../shared/engine/hooks.ts";
import type { Transformer } from "../../shared/engine/transformer.ts";
import type { MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import type { Pruner } from "../../shared/dart/index.ts";
import type { KvHandoff, NodeTurnRequest, PrefillMode, TurnError } from "../../shared/serving/protocol.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";
import type { CachedSession } from "./kv-cache.ts";
import { installKv } from "./kv-handoff.ts";

/**
 * Methods a sparse node cannot serve. dense needs the dense FFN for every token; dart-paper
 * traces its first maskingStep generated tokens densely and re-traces maskingStep dense tokens
 * after each drift (its detector fires on most windows), so its decode needs the dense FFN
 * every few tokens: the Session object sends both to a full node, which traces and decodes.
 */
const FULL_ONLY: Record<string, string> = {
  dense: "runs the dense FFN for every token",
  "dart-paper": "re-traces generated tokens densely after every drift",
};

const NO_MASKS: TurnError = {
  type: "error",
  status: 503,
  message: "this sparse node has no masks for the session and no prior masks for its settings: trace the turn on a full node",
  param: null,
  code: "no_masks",
};

/** Fixed-mask methods compute their masks from the dense model: a sparse node needs them from a full node's trace. */
export const needsPriorMasks = (method: string) => method === "static" || method === "random";

export function sparseRefusal(method: string, hasPrior: boolean): TurnError | null {
  if (needsPriorMasks(method) && !hasPrior) return NO_MASKS;
  const why = FULL_ONLY[method];
  if (!why) return null;
  return { type: "error", status: 400, message: `dart.method "${method}" ${why}; a sparse node holds no dense FFN: send it to a full node`, param: "dart.method", code: "method_needs_full_node" };
}

export class DenseOnSparseError extends Error {
  constructor(layer: number) {
    super(`layer ${layer} would run its dense FFN, which a sparse node does not hold`);
    this.name = "DenseOnSparseError";
  }
}

/** Masks in force (the prior's when the session has none yet) and how the prompt will be prefilled. */
export function readySparse(pruner: Pruner, req: NodeTurnRequest, promptIds: number[], cached: number): { type: "ok"; prefill: PrefillMode } | TurnError {
  const p = pruner as MaskingPruner;
  p.usePriorMasks(cached);
  if (p.kept.every((k) => k === null)) return NO_MASKS;
  const kv = req.trace?.kv;
  const fits = !!kv && kv.ids.length === promptIds.length - kv.from && kv.ids.every((id, i) => id === promptIds[kv.from + i]);
  return { type: "ok", prefill: fits ? "kv" : "masked" };
}

/** Hooks that see decode positions only: the prompt was traced elsewhere. */
function decodeOnly(h: ForwardHooks, from: number): ForwardHooks {
  return {
    attnOutput: (l, pos, o) => void (pos >= from && h.attnOutput?.(l, pos, o)),
    ffnInput: (l, pos, x) => void (pos >= from && h.ffnInput?.(l, pos, x)),
    ffnActivation: (l, pos, a, k) => void (pos >= from && h.ffnActivation?.(l, pos, a, k)),
    ffnOutput: (l, pos, o) => void (pos >= from && h.ffnOutput?.(l, pos, o)),
  };
}

export function sparseGenerate(
  tf: Transformer,
  tok: Tokenizer,
  pruner: Pruner,
  entry: CachedSession,
  promptIds: number[],
  cached: number,
  kv: KvHandoff | null,
  opts: GenerateOptions,
): GenerateResult {
  const p = pruner as MaskingPruner;
  const end = promptIds.length;
  const state = entry.state;
  const noDense = () => {
    const l = state.ffn.findIndex((f) => f === null);
    if (l >= 0) throw new DenseOnSparseError(l);
  };
  const t0 = performance.now();
  // Positions the handoff does not cover (or all of them, without one) run with the masks in force.
  const maskedTo = kv && kv.ids.length === end - kv.from ? Math.max(cached, kv.from) : end;
  let start = cached;
  let logits: Float32Array | null = null;
  if (maskedTo < end) {
    p.prefillMasked();
    noDense();
    for (let pos = cached; pos < maskedTo; pos++) tf.forward(state, promptIds[pos]!, pos);
    logits = installKv(tf, state, promptIds, kv!, maskedTo);
    if (logits) start = end;
  }
  const handoffMs = performance.now() - t0;
  const r = generateFromIds(
    tf,
    tok,
    promptIds,
    state,
    {
      ...opts,
      hooks: decodeOnly(opts.hooks ?? {}, end),
      prefilledLogits: logits ?? undefined,
      beforeForward(pos, token, phase) {
        if (phase === "prompt") p.prefillMasked();
        else opts.beforeForward?.(pos, token, phase);
        noDense();
      },
    },
    // A handoff that did not install (sizes wrong) falls back to the masked prefill from where the cache stops.
    logits ? start : maskedTo < end ? maskedTo : cached,
  );
  return { ...r, prefillMs: r.prefillMs + handoffMs };
}
