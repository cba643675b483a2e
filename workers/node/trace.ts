// A full node's trace request: prefill a turn's prompt densely, trace the turn's new tokens
// (DART statistics), build the masks a single node would build before its first generated
// token, and return them with the pruner state, the prior masks a sparse node needs for
// re-masks, and on request the KV entries of the traced positions. Nothing is decoded here.
import { MaskingPruner, type MaskPlan } from "../../shared/dart/masking-pruner.ts";
import { DartSettingsError } from "../../shared/dart/index.ts";
import type { DartSettings } from "../../shared/dart/settings.ts";
import { toBase64 } from "../../shared/serving/base64.ts";
import { commonPrefix } from "../../shared/serving/context-window.ts";
import type { EncodedMaskPlan, NodeTraceRequest, NodeTraceResult, TurnError } from "../../shared/serving/protocol.ts";
import { encodePlan } from "../../shared/serving/tensor-b64.ts";
import { prefillPrompt } from "../../shared/engine/generate.ts";
import { packKv } from "./kv-handoff.ts";
import { clientError, planPrompt } from "./prompt-plan.ts";
import { sessionPruner, type NodeEngine } from "./run-turn.ts";

/** Prior masks per settings (deterministic per model and settings; a handful of settings in practice). */
const priorPlans = new Map<string, EncodedMaskPlan | null>();

function priorPlanFor(engine: NodeEngine, settings: DartSettings): EncodedMaskPlan | null {
  const key = JSON.stringify(settings);
  if (!priorPlans.has(key)) {
    const plan: MaskPlan | null = MaskingPruner.priorPlan(engine.tf, settings);
    if (priorPlans.size >= 16) priorPlans.delete(priorPlans.keys().next().value!);
    priorPlans.set(key, plan && encodePlan(plan));
  }
  return priorPlans.get(key)!;
}

export function runTrace(engine: NodeEngine, req: NodeTraceRequest): NodeTraceResult | TurnError {
  const { tf, tok } = engine;
  const t0 = performance.now();
  const plan = planPrompt(tok, tf.config.seqLen, req);
  if ("type" in plan) return plan;
  const { promptIds } = plan;
  const end = promptIds.length;
  const entry = engine.cache.acquire(req.sessionKey, () => tf.newState());
  // The turn's new tokens are traced, whatever this node has cached (BOS too when there is no history),
  // so the masks do not depend on which full node traces.
  const traceFrom = plan.historyTokens === 0 ? 0 : plan.newFrom;
  const cached = Math.min(commonPrefix(entry.ids, promptIds), traceFrom, end - 1);
  let pruner: MaskingPruner;
  try {
    pruner = sessionPruner(engine, entry.state, req) as MaskingPruner;
  } catch (e) {
    if (!(e instanceof DartSettingsError)) throw e;
    return clientError(e.message, e.param, "invalid_dart_settings");
  }
  entry.ids = promptIds.slice(0, cached);
  // Older positions this node has not cached run dense and untraced: they are context, not the turn.
  entry.state.ffn.fill(null);
  // The prompt in blocks, as a single node's turn runs it (prefillPrompt), so both compute the same bits.
  let logits = cached < traceFrom ? prefillPrompt(tf, entry.state, promptIds.slice(0, traceFrom), cached, {}) : null;
  pruner.beginTurn(traceFrom, end - traceFrom);
  if (traceFrom < end) logits = prefillPrompt(tf, entry.state, promptIds, traceFrom, { hooks: pruner.hooks, beforeForward: (pos, token) => pruner.beforeForward(pos, token, "prompt") });
  pruner.finishTrace(end);
  entry.ids = promptIds.slice();
  // The traced positions always travel (from BOS on a first turn), earlier ones when asked.
  const kvFrom = req.kvFrom === null ? null : Math.min(Math.max(0, req.kvFrom), traceFrom, end - 1);
  return {
    type: "trace",
    node: engine.name,
    droppedEntries: plan.dropped,
    segmentIds: plan.segmentIds,
    promptTokens: end,
    cachedTokens: cached,
    tracedTokens: end - traceFrom,
    state: toBase64(pruner.serialize()),
    events: pruner.events(),
    masks: pruner.masks(),
    stats: pruner.stats(),
    prior: priorPlanFor(engine, req.dart),
    kv: kvFrom === null ? null : packKv(tf, entry.state, promptIds, kvFrom, logits!),
    traceMs: performance.now() - t0,
  };
}
