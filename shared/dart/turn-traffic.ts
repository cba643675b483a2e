// Bytes one turn moves between the Session object and its node, for a model shape: the
// real protocol messages (shared/serving/protocol.ts) serialized as they go over the wire,
// with the real pruner-state encoding (state-shape.ts) in them. Steady state: the node holds
// the session's state (soft cache), so the request names its version and the answer carries
// the new state; cold: the state goes to the node too.
import type { ModelConfig } from "../model/config.ts";
import { toBase64 } from "../serving/base64.ts";
import { ndjsonLine } from "../serving/ndjson.ts";
import type { EncodedMaskPlan, KvHandoff, NodeEvent, NodeHandoff, NodeStatePush, NodeTraceRequest, NodeTraceResult, NodeTurnRequest } from "../serving/protocol.ts";
import { DEFAULT_DART_SETTINGS } from "./settings.ts";
import { shapedState } from "./state-shape.ts";

export interface TurnTrafficOptions {
  /** Tokens already in the conversation (sent as context ids every turn). */
  contextTokens: number;
  /** Tokens of the new user message. */
  newTokens: number;
  generatedTokens: number;
}

export interface TurnTraffic {
  /** The state a dart session stores after a turn (masks in force). */
  stateBytes: number;
  /** A dart-paper state with its trace still open after a 2,048-token prompt (the large case). */
  tracingStateBytes: number;
  /** Steady state: request (version only) plus the node's answer (tokens, events, new state). */
  turnTransferBytes: number;
  toNodeBytes: number;
  fromNodeBytes: number;
  /** The same turn when the node lacks the state (first turn on a node, restart, failover). */
  coldTurnTransferBytes: number;
  /** The same turn split between a full and a sparse node (the default with SPARSE_NODES). */
  split: SplitTraffic;
}

/**
 * A split turn (workers/session/split-turn.ts). Steady state: the trace names the state by
 * version, the full node pushes the traced state, prior masks and KV entries to the sparse
 * node, which answers the Session object (the state once, in its done event) and pushes the
 * final state back to the full node. Bytes between the Session object and the nodes
 * (`turnTransferBytes`) are counted apart from the bytes the nodes push to each other
 * (`nodeToNodeBytes`).
 */
export interface SplitTraffic {
  /** The state the session stores (and reads once per turn). */
  stateBytes: number;
  turnTransferBytes: number;
  toNodesBytes: number;
  fromNodesBytes: number;
  /** Times the state crosses between the Session object and the nodes in a steady turn. */
  stateCrossings: number;
  /** The handoff (traced state, prior masks, KV entries, last logits) plus the final state pushed back. */
  nodeToNodeBytes: number;
  /** The base64 f32 keys and values of the traced positions, alone. */
  kvHandoffBytes: number;
  /** The full node lost the state (restart, eviction, a failed push): 409, then the state resent to the trace. */
  coldTurnTransferBytes: number;
  /** No handoff (the sparse node could not be reached): the trace answers inline and the Session object forwards it (four state crossings, KV twice). */
  inlineTurnTransferBytes: number;
}

const bytesOf = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).byteLength;

export function turnTraffic(config: ModelConfig, o: TurnTrafficOptions): TurnTraffic {
  const state = shapedState(config, { mode: "masked" });
  const stateB64 = toBase64(state);
  const id = (i: number) => (i * 7919) % config.vocabSize; // token ids spread over the vocabulary
  const ids = (n: number, from: number) => Array.from({ length: n }, (_, i) => id(from + i));
  const req: NodeTurnRequest = {
    sessionKey: "0".repeat(64) + "." + "0".repeat(64), // an object id signed with the node token
    context: [ids(o.contextTokens, 0)],
    segments: [{ text: "x".repeat(o.newTokens * 4) }],
    maxTokens: o.generatedTokens,
    temperature: 0.8,
    topP: 0.95,
    seed: 123456789,
    dart: DEFAULT_DART_SETTINGS,
    prunerState: "",
    prunerStateVersion: "0".repeat(32),
  };
  const masks = Array.from({ length: config.nLayers }, (_, layer) => ({ layer, kept: config.hiddenDim >> 1, total: config.hiddenDim }));
  const completionIds = ids(o.generatedTokens, o.contextTokens);
  const events: NodeEvent[] = [
    { type: "start", node: "node-1", droppedEntries: 0, segmentIds: [ids(o.newTokens, 1)], promptTokens: o.contextTokens + o.newTokens + 1, cachedTokens: o.contextTokens, maxTokens: o.generatedTokens },
    { type: "dart", event: { pos: o.contextTokens + 1, kind: "turn", remask: true } },
    { type: "dart", event: { pos: o.contextTokens + o.newTokens, kind: "mask", remask: false, bytesFetched: 0 }, masks },
    ...completionIds.map((): NodeEvent => ({ type: "text", text: " word" })),
    {
      type: "done", completionIds, completion: " word".repeat(o.generatedTokens), finishReason: "length", prefillMs: 100, decodeMs: 1000,
      pruner: { state: stateB64, events: [], masks, stats: { tokens: 1000, denseTokens: 100, effectiveSparsity: 0.45, remasks: 1 } },
    },
  ];
  const fromNodeBytes = events.reduce((n, e) => n + ndjsonLine(e).byteLength, 0);
  const toNodeBytes = bytesOf(req);
  const cold = bytesOf({ ...req, prunerState: stateB64, prunerStateVersion: undefined });
  // Split: trace request and result, then the sparse node's request and its answer.
  const kvTokens = o.newTokens + 1;
  const kvDim = (config.dim / config.nHeads) * config.nKvHeads;
  const f32 = (n: number) => toBase64(new Uint8Array(n * 4));
  const kv: KvHandoff = { from: o.contextTokens + 1, ids: ids(kvTokens, 1), keys: f32(config.nLayers * kvTokens * kvDim), values: f32(config.nLayers * kvTokens * kvDim), logits: f32(config.vocabSize) };
  // dart's prior masks (the sparse node's re-masks): half the neurons kept (int32 ids), a bias per layer.
  const prior: EncodedMaskPlan = { kept: masks.map(() => f32(config.hiddenDim >> 1)), bias: masks.map(() => f32(config.dim)) };
  const fullUrl = "http://10.0.0.1:8787", sparseUrl = "http://10.0.0.2:8787", handoffId = "0".repeat(32);
  const { prunerStateVersion: _v, ...reqWithoutVersion } = req;
  const traceReq: NodeTraceRequest = {
    sessionKey: req.sessionKey, context: req.context, segments: req.segments, maxTokens: req.maxTokens, dart: req.dart,
    prunerState: "", prunerStateVersion: req.prunerStateVersion, kvFrom: kv.from, handoffTo: { url: sparseUrl, id: handoffId },
  };
  const traceInline: NodeTraceResult = {
    type: "trace", node: "full-1", droppedEntries: 0, segmentIds: [ids(o.newTokens, 1)], promptTokens: o.contextTokens + o.newTokens + 1, cachedTokens: o.contextTokens,
    tracedTokens: o.newTokens, state: stateB64, events: [events[2]!.type === "dart" ? events[2]!.event : { pos: 0, kind: "mask", remask: false }], masks, stats: { tokens: 1000, denseTokens: 100, effectiveSparsity: 0.45, remasks: 1 },
    prior, kv, traceMs: 100,
  };
  const handoff: NodeHandoff = { sessionKey: req.sessionKey, id: handoffId, state: stateB64, prior, kv };
  const push: NodeStatePush = { sessionKey: req.sessionKey, state: stateB64 };
  const traceRes: NodeTraceResult = { ...traceInline, state: "", prior: null, kv: null, handoff: { id: handoffId, bytes: bytesOf(handoff) } };
  const sparseReq: NodeTurnRequest = { ...reqWithoutVersion, trace: { node: "full-1", prior: null, kv: null, handoff: handoffId, stateTo: fullUrl } };
  const sparseAnswer = fromNodeBytes + bytesOf({ nodeToNodeBytes: bytesOf(push) }) - 1; // the done event's extra field (`,"nodeToNodeBytes":n`)
  const splitTo = bytesOf(traceReq) + bytesOf(sparseReq);
  const splitFrom = bytesOf(traceRes) + sparseAnswer;
  const resend = bytesOf({ ...traceReq, prunerState: stateB64, prunerStateVersion: undefined });
  // Inline: the trace's bulk comes back to the Session object, which forwards it to the sparse node.
  const inlineTo = bytesOf({ ...traceReq, handoffTo: undefined }) + bytesOf({ ...reqWithoutVersion, prunerState: stateB64, trace: { node: "full-1", prior, kv, stateTo: fullUrl } });
  const inlineFrom = bytesOf(traceInline) + sparseAnswer;
  return {
    split: {
      stateBytes: state.byteLength,
      turnTransferBytes: splitTo + splitFrom,
      toNodesBytes: splitTo,
      fromNodesBytes: splitFrom,
      stateCrossings: 1,
      nodeToNodeBytes: bytesOf(handoff) + bytesOf(push),
      kvHandoffBytes: kv.keys.length + kv.values.length,
      coldTurnTransferBytes: splitTo + splitFrom + resend,
      inlineTurnTransferBytes: inlineTo + inlineFrom,
    },
    stateBytes: state.byteLength,
    tracingStateBytes: shapedState(config, { method: "dart-paper", mode: "tracing", tracedTokens: 2048 }).byteLength,
    turnTransferBytes: toNodeBytes + fromNodeBytes,
    toNodeBytes,
    fromNodeBytes,
    coldTurnTransferBytes: cold + fromNodeBytes,
  };
}
