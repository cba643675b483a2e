// One conversation turn on a node: tokenize the new messages, fit the context, reuse
// the session's KV cache for the common prefix, restore the DART pruner from the
// Session object's blob, generate, and report the new pruner state.
import { generateFromIds, type GenerateOptions, type GenerateResult } from "../../shared/engine/generate.ts";
import type { Transformer } from "../../shared/engine/transformer.ts";
import { createPruner, DartSettingsError, StateFormatError, type Pruner, type PrunerOptions } from "../../shared/dart/index.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { fromBase64, toBase64 } from "../../shared/serving/base64.ts";
import { commonPrefix } from "../../shared/serving/context-window.ts";
import type { WeightCounters } from "../../shared/metrics/node-metrics.ts";
import type { BuiltOn, NodeEvent, NodeRole, NodeTurnRequest, PrefillMode, ReportedEvent } from "../../shared/serving/protocol.ts";
import type { KvCache } from "./kv-cache.ts";
import type { TurnWeightStats } from "./node-weights.ts";
import { clientError, planPrompt } from "./prompt-plan.ts";
import { readySparse, sparseGenerate, sparseRefusal } from "./sparse-decode.ts";
import { TurnOutput } from "./turn-output.ts";

export interface NodeEngine {
  name: string;
  tf: Transformer;
  tok: Tokenizer;
  cache: KvCache;
  /** The weight source's counters (bytes fetched, shard cache hits and misses), read at each mask built; absent: all resident. */
  weights?: WeightCounters;
  /** Called before each decode step; a simulated slow device sleeps here (tests of abort and 409). */
  pace?(): void;
  /** How the pruner builds compacted FFNs (a node on the weight store: from resident shards; a sparse node: also the prior masks). */
  prunerOptions?: PrunerOptions;
  /** "sparse": no dense FFN here; the turn's masks come from a trace on a full node (default "full"). */
  role?: NodeRole;
}

export interface TurnRecord {
  sessionKey: string;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  /** "rejected": the request was refused before any work (a client error, 4xx): not a turn run. */
  stopReason: "eos" | "length" | "abort" | "error" | "stop" | "rejected";
  prefillMs: number;
  decodeMs: number;
  method: string;
  /** Re-masks of this turn (dense re-traces after drift; the pruner's stats().remasks). */
  remasks: number;
  /** Tokens the pruner ran this turn, and how many of them dense. */
  ffnTokens: number;
  ffnDenseTokens: number;
  /** Fraction of FFN neurons pruned by the masks in force at the end of the turn (null: none). */
  maskSparsity: number | null;
  /** A sparse node's prefill of the traced tokens (absent on a full node). */
  prefill?: PrefillMode;
  /** Bytes fetched from the weight store during this turn (a store node: including its pre-turn fetch). */
  bytesFetched: number;
  /** What the turn cost the weight store (nodes serving from it; see node-weights.ts). */
  weights?: TurnWeightStats;
}

/** Fraction of neurons the masks prune over all layers (null when every layer runs dense). */
export function maskSparsity(masks: { kept: number; total: number }[]): number | null {
  const total = masks.reduce((a, m) => a + m.total, 0);
  const kept = masks.reduce((a, m) => a + m.kept, 0);
  return total > 0 && kept < total ? 1 - kept / total : null;
}

/**
 * The session's pruner from the Session object's blob. A blob this build cannot read (say,
 * written by an older state version) costs a re-trace, not the conversation.
 */
function restorePruner(engine: NodeEngine, state: Parameters<typeof createPruner>[1], req: NodeTurnRequest): Pruner {
  const saved = req.prunerState ? fromBase64(req.prunerState) : undefined;
  try {
    return createPruner(engine.tf, state, req.dart, saved, engine.prunerOptions);
  } catch (e) {
    if (!(e instanceof StateFormatError)) throw e;
    return createPruner(engine.tf, state, req.dart, undefined, engine.prunerOptions);
  }
}

/**
 * The session's pruner from the Session object's blob. A blob this build cannot read (say,
 * written by an older state version) costs a re-trace, not the conversation.
 */
export function sessionPruner(engine: NodeEngine, state: Parameters<typeof createPruner>[1], req: Pick<NodeTurnRequest, "prunerState" | "dart">): Pruner {
  return restorePruner(engine, state, req as NodeTurnRequest);
}

/**
 * Runs synchronously; `isAborted` is polled between tokens. Returns a record for the node's stats.
 * `bytesFetchedBefore`: what a sparse node fetched for this turn's masks before calling (reported at start).
 */
export function runTurn(engine: NodeEngine, req: NodeTurnRequest, emit: (e: NodeEvent) => void, isAborted: () => boolean, bytesFetchedBefore = 0): TurnRecord {
  const { tf, tok } = engine;
  const record: TurnRecord = {
    sessionKey: req.sessionKey,
    promptTokens: 0,
    cachedTokens: 0,
    completionTokens: 0,
    stopReason: "error",
    prefillMs: 0,
    decodeMs: 0,
    method: req.dart?.method ?? "unknown",
    remasks: 0,
    ffnTokens: 0,
    ffnDenseTokens: 0,
    maskSparsity: null,
    bytesFetched: 0,
  };
  const sparse = engine.role === "sparse";
  const refusal = sparse ? sparseRefusal(req.dart.method, !!engine.prunerOptions?.priorMasks) : null;
  if (refusal) {
    emit(refusal);
    return { ...record, stopReason: refusal.status < 500 ? "rejected" : "error" };
  }
  const sampling = req.sampling ?? {};
  const badBias = Object.keys(sampling.logitBias ?? {}).find((id) => Number(id) >= tf.config.vocabSize);
  if (badBias !== undefined) {
    emit(clientError(`logit_bias names token ${badBias}; the vocabulary has ${tf.config.vocabSize} tokens`, "logit_bias", "invalid_logit_bias"));
    return { ...record, stopReason: "rejected" };
  }
  const plan = planPrompt(tok, tf.config.seqLen, req);
  if ("type" in plan) {
    emit(plan);
    return { ...record, stopReason: "rejected" };
  }
  const { segmentIds, promptIds } = plan;
  const entry = engine.cache.acquire(req.sessionKey, () => tf.newState());
  // At least the last prompt token runs, to produce the logits of the first new token.
  const cached = Math.min(commonPrefix(entry.ids, promptIds), promptIds.length - 1);
  let pruner: Pruner;
  try {
    pruner = restorePruner(engine, entry.state, req);
  } catch (e) {
    if (!(e instanceof DartSettingsError)) throw e;
    emit(clientError(e.message, e.param, "invalid_dart_settings"));
    return { ...record, stopReason: "rejected" };
  }
  let sparsePrefill: PrefillMode = "masked";
  if (sparse) {
    const ready = readySparse(pruner, req, promptIds, cached);
    if (ready.type === "error") {
      emit(ready);
      return record;
    }
    sparsePrefill = ready.prefill;
  }
  const statsBefore = pruner.stats();
  const fetched = () => engine.weights?.bytesFetched ?? 0;
  // Each mask built ("mask" events without remask: the kept sets change) is annotated with the
  // bytes the weight source fetched since the previous one: the cost of that context shift.
  const bytesAtStart = fetched();
  let bytesMark = bytesAtStart;
  const builtOn: BuiltOn = { node: engine.name, role: engine.role ?? "full", weights: engine.weights?.source ?? "file" };
  const events: ReportedEvent[] = [];
  const noteEvents = () => {
    const all = pruner.events();
    for (let i = events.length; i < all.length; i++) {
      const e: ReportedEvent = { ...all[i]! };
      if (e.kind === "mask" && !e.remask) {
        e.bytesFetched = fetched() - bytesMark;
        e.builtOn = builtOn;
        bytesMark = fetched();
      }
      events.push(e);
      emit(e.kind === "mask" && !e.remask ? { type: "dart", event: e, masks: pruner.masks() } : { type: "dart", event: e });
    }
  };
  record.promptTokens = promptIds.length;
  record.cachedTokens = cached;
  if (sparse) record.prefill = sparsePrefill;
  emit({
    type: "start",
    node: engine.name,
    droppedEntries: plan.dropped,
    segmentIds,
    promptTokens: promptIds.length,
    cachedTokens: cached,
    maxTokens: plan.maxTokens,
    ...(sparse ? { prefill: sparsePrefill, bytesFetched: bytesFetchedBefore } : {}),
  });

  // Until this turn completes the cache is only valid up to the reused prefix.
  entry.ids = promptIds.slice(0, cached);
  const abort = new AbortController();
  const output = new TurnOutput(tok, sampling.stop ?? [], promptIds[promptIds.length - 1]!, emit);
  const genOpts: GenerateOptions = {
    maxTokens: plan.maxTokens,
    temperature: req.temperature,
    topP: req.topP,
    seed: req.seed,
    hooks: pruner.hooks,
    beforeForward(pos, token, phase) {
      if (phase === "decode") engine.pace?.();
      if (isAborted()) abort.abort();
      pruner.beforeForward(pos, token, phase);
      noteEvents();
    },
    batchPrompt: true, // the prompt in blocks (Transformer.prefill): DART's prompt phase only traces
    onText: (text) => output.text(text),
    onToken: (id, lp) => output.token(id, lp),
    shouldStop: () => output.stopped,
    logitControls: sampling,
    topLogprobs: sampling.topLogprobs,
    signal: abort.signal,
  };
  let r: GenerateResult;
  if (sparse) {
    r = sparseGenerate(engine.tf, tok, pruner, entry, promptIds, cached, req.trace?.kv ?? null, genOpts);
  } else {
    pruner.beginTurn(cached, promptIds.length - cached);
    r = generateFromIds(tf, tok, promptIds, entry.state, genOpts, cached);
  }
  output.finish();
  // Every generated token went through the forward pass except the last one of a length or stop-sequence stop.
  const forwarded = r.stopReason === "length" || r.stopReason === "stop" ? r.tokens.length - 1 : r.tokens.length;
  entry.ids = promptIds.concat(r.tokens.slice(0, Math.max(0, forwarded)));
  record.completionTokens = r.tokens.length;
  record.stopReason = r.stopReason;
  record.prefillMs = r.prefillMs;
  record.decodeMs = r.decodeMs;
  noteEvents();
  const statsAfter = pruner.stats();
  const masks = pruner.masks();
  record.remasks = statsAfter.remasks - statsBefore.remasks;
  record.ffnTokens = statsAfter.tokens - statsBefore.tokens;
  record.ffnDenseTokens = statsAfter.denseTokens - statsBefore.denseTokens;
  record.maskSparsity = maskSparsity(masks);
  record.bytesFetched = fetched() - bytesAtStart;
  if (r.stopReason === "abort") return record;
  emit({
    type: "done",
    // The ids keep the stop sequence's tokens (what the model saw itself say, like an end token);
    // the text is what the client got.
    completionIds: r.tokens,
    completion: output.completion,
    finishReason: r.stopReason === "length" ? "length" : "stop",
    prefillMs: r.prefillMs,
    decodeMs: r.decodeMs,
    pruner: { state: toBase64(pruner.serialize()), events, masks, stats: statsAfter },
  });
  return record;
}
