// Bytes one turn moves between the Session object and its node, for a model shape: the
// real protocol messages (shared/serving/protocol.ts) serialized as they go over the wire,
// with the real pruner-state encoding (state-shape.ts) in them. Steady state: the node holds
// the session's state (soft cache), so the request names its version and the answer carries
// the new state; cold: the state goes to the node too.
import type { ModelConfig } from "../model/config.ts";
import { toBase64 } from "../serving/base64.ts";
import { ndjsonLine } from "../serving/ndjson.ts";
import type { KvHandoff, NodeEvent, NodeTraceRequest, NodeTraceResult, NodeTurnRequest } from "../serving/protocol.ts";
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
  /**
   * The same turn split (the default with SPARSE_NODES, workers/session/split-turn.ts), as the
   * Session object sends and receives it today: the state to the full node's /v1/trace, the
   * traced state and the KV handoff back, both on to the sparse node, the state again in its
   * done event. `kvHandoffBytes`: the base64 f32 keys and values of the new tokens, alone.
   */
  split: { turnTransferBytes: number; toNodesBytes: number; fromNodesBytes: number; stateCrossings: number; kvHandoffBytes: number };
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
  const traceReq: NodeTraceRequest = { sessionKey: req.sessionKey, context: req.context, segments: req.segments, maxTokens: req.maxTokens, dart: req.dart, prunerState: stateB64, kvFrom: kv.from };
  const traceRes: NodeTraceResult = {
    type: "trace", node: "full-1", droppedEntries: 0, segmentIds: [ids(o.newTokens, 1)], promptTokens: o.contextTokens + o.newTokens + 1, cachedTokens: o.contextTokens,
    tracedTokens: o.newTokens, state: stateB64, events: [events[2]!.type === "dart" ? events[2]!.event : { pos: 0, kind: "mask", remask: false }], masks, stats: { tokens: 1000, denseTokens: 100, effectiveSparsity: 0.45, remasks: 1 },
    prior: null, kv, traceMs: 100,
  };
  const sparseReq: NodeTurnRequest = { ...req, prunerState: stateB64, trace: { node: "full-1", prior: null, kv } };
  delete sparseReq.prunerStateVersion;
  const splitTo = bytesOf(traceReq) + bytesOf(sparseReq);
  const splitFrom = bytesOf(traceRes) + fromNodeBytes;
  return {
    split: { turnTransferBytes: splitTo + splitFrom, toNodesBytes: splitTo, fromNodesBytes: splitFrom, stateCrossings: 4, kvHandoffBytes: kv.keys.length + kv.values.length },
    stateBytes: state.byteLength,
    tracingStateBytes: shapedState(config, { method: "dart-paper", mode: "tracing", tracedTokens: 2048 }).byteLength,
    turnTransferBytes: toNodeBytes + fromNodeBytes,
    toNodeBytes,
    fromNodeBytes,
    coldTurnTransferBytes: cold + fromNodeBytes,
  };
}
