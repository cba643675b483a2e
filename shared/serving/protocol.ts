// Messages between the Session Durable Object and an inference node, and between
// the Session object and the gateway. Both legs stream newline-delimited JSON events.
import type { DriftEvent, LayerMaskSummary, PrunerStats } from "../dart/pruner.ts";
import type { DartSettings } from "../dart/settings.ts";

/** A piece of conversation rendered by the chat template, not yet tokenized. */
export interface NewSegment {
  text: string;
}

/**
 * Sampling and output controls beyond temperature / top-p (OpenAI's stop, frequency_penalty,
 * presence_penalty, logit_bias, logprobs). Absent fields change nothing.
 */
export interface SamplingControls {
  /** Up to 4 stop sequences, matched on decoded text; the match is not part of the completion. */
  stop?: string[];
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** Token id (decimal string) -> bias in -100..100. */
  logitBias?: Record<string, number>;
  /** Report each token's log-probability with this many top alternatives (absent: no logprobs). */
  topLogprobs?: number;
}

/** One generated token's log-probability as the node reports it (token text and its UTF-8 bytes). */
export interface ReportedLogprob {
  token: string;
  bytes: number[];
  logprob: number;
  /** Character offset of the token's text in the completion. */
  offset: number;
  top: { token: string; bytes: number[]; logprob: number }[];
}

/** Session object -> node: run one turn. */
export interface NodeTurnRequest {
  /** Opaque key for the node's soft caches (the Session object's id). */
  sessionKey: string;
  /** Who the turn is for (the API key's namespace): the node queues turns fairly across tenants. */
  tenant?: string;
  /** Token ids of the messages still in context, oldest first, without BOS. */
  context: number[][];
  /** New messages of this turn, rendered; the node tokenizes each into one context entry. */
  segments: NewSegment[];
  /** Upper bound on generated tokens; null lets the node choose (default, clipped to the context). */
  maxTokens: number | null;
  temperature: number;
  topP: number;
  seed: number;
  dart: DartSettings;
  /** Base64 of the pruner's serialized state from the previous turn ("" for none, or to use prunerStateVersion). */
  prunerState: string;
  /**
   * With prunerState "": the version (shared/serving/state-version.ts) of the state the session
   * holds. A node that kept that state from the session's last turn uses it; one that did not
   * answers 409 `state_not_cached` before starting, and the Session object resends the state.
   */
  prunerStateVersion?: string;
  /** A sparse node's turn after a trace elsewhere (absent: the node traces itself, or a sparse node continues the state's masks). */
  trace?: TurnTrace;
  sampling?: SamplingControls;
}

/** What a node does with its FFN: a full node holds the whole model and traces; a sparse node holds only mask shards. */
export type NodeRole = "full" | "sparse";

/** How a sparse node fills its KV cache for the traced tokens: the full node's entries, or its own masked prefill. */
export type PrefillMode = "kv" | "masked";

/** Kept neurons per layer (base64 of little-endian Int32, "" for a dense layer) and mean-compensation biases (base64 f32, "" for none). */
export interface EncodedMaskPlan {
  kept: string[];
  bias: string[];
}

/** The full node's KV entries for positions from..from+ids.length-1, layer-major (layer x position x kvDim), base64 f32. */
export interface KvHandoff {
  from: number;
  ids: number[];
  keys: string;
  values: string;
  /** Logits of the last position (the first generated token is sampled from them). */
  logits: string;
  /**
   * The weight format of the engine that computed them ("f32" or "q8_0"; absent: f32, older
   * nodes). A node of another format does not install them (it prefills itself): KV entries
   * of an fp32 and a Q8_0 engine never mix in one cache.
   */
  weightFormat?: string;
}

/** Session object -> full node: trace a turn's new tokens (dense prefill, DART statistics, masks). */
export interface NodeTraceRequest {
  sessionKey: string;
  /** Who the turn is for: a trace waits in the node's fair queue like a turn (NodeTurnRequest.tenant). */
  tenant?: string;
  context: number[][];
  segments: NewSegment[];
  /** The decode's token limit: both nodes must drop the same old messages. */
  maxTokens: number | null;
  dart: DartSettings;
  /** The state itself, or "" with `prunerStateVersion` (the node's soft cache; 409 `state_not_cached` if it lacks it). */
  prunerState: string;
  prunerStateVersion?: string;
  /** First position whose KV entries come back (KV handoff); null for none (sparse re-prefill). */
  kvFrom: number | null;
  /**
   * The sparse node the Session object chose for the decode: the full node pushes the traced
   * state, prior masks and KV entries there (POST /v1/handoff, under `id`) and answers without them.
   */
  handoffTo?: { url: string; id: string };
}

/** Full node -> sparse node (POST /v1/handoff): what a split turn's decode needs from its trace. */
export interface NodeHandoff {
  sessionKey: string;
  id: string;
  state: string;
  prior: EncodedMaskPlan | null;
  kv: KvHandoff | null;
}

/** Sparse node -> full node (POST /v1/states): the state a decode ended with, for the full node's soft cache. */
export interface NodeStatePush {
  sessionKey: string;
  state: string;
}

/** Full node -> Session object: the trace's outcome (one JSON body). */
export interface NodeTraceResult {
  type: "trace";
  node: string;
  droppedEntries: number;
  segmentIds: number[][];
  promptTokens: number;
  /** Prompt tokens the full node found in its own KV cache. */
  cachedTokens: number;
  /** Tokens whose FFN statistics were traced (the turn's new tokens). */
  tracedTokens: number;
  /** The pruner state after the trace: masks, biases, statistics (opaque to the Session object). */
  state: string;
  events: ReportedEvent[];
  masks: LayerMaskSummary[];
  stats: PrunerStats;
  /** The masks a re-mask without traced tokens installs (null when the method has none): the sparse node's re-masks. */
  prior: EncodedMaskPlan | null;
  kv: KvHandoff | null;
  traceMs: number;
  /** Pushed to the chosen sparse node (state "", prior and kv null here): the id and the bytes that went node to node. */
  handoff?: { id: string; bytes: number };
}

/** What travels from the trace to the sparse node with the turn. */
export interface TurnTrace {
  /** The full node that traced (null: no trace this turn, the masks in force continue). */
  node: string | null;
  prior: EncodedMaskPlan | null;
  kv: KvHandoff | null;
  /** The trace's state, prior and kv wait on this node under this id (NodeHandoff); 409 `handoff_not_found` if they do not. */
  handoff?: string;
  /** The full node that traced (URL): the decode's final state is pushed to its soft cache (NodeStatePush). */
  stateTo?: string;
}

/** A pruner event as a node reports it: a mask built (kind "mask", remask false) carries the bytes fetched for it. */
export type ReportedEvent = DriftEvent & {
  /** Bytes the node fetched from the weight store for this mask (0 when the weights are resident). */
  bytesFetched?: number;
  /** A turn split between nodes: which node traced and which decoded (set by the Session object). */
  tracedBy?: string;
  decodedBy?: string;
  /** How the decoding node was chosen: by mask overlap with its resident neurons, or rendezvous hashing (nothing known). */
  routedBy?: "overlap" | "rendezvous";
  /** Why this turn was not traced on a full node (the masks in force, or the prior's, were kept). */
  traceSkipped?: string;
  /** Full nodes that failed on this turn's trace before another traced it (node: reason; ...). */
  traceRetried?: string;
  /** A mask built: the node whose bytesFetched these are, and where its FFN weights come from. */
  builtOn?: BuiltOn;
};

/** "file": the whole model read from a file, in memory (nothing to fetch); "store": shards from the weight store (0 bytes when resident). */
export interface BuiltOn {
  node: string;
  role: NodeRole;
  weights: "file" | "store";
}

export interface PrunerReport {
  state: string; // base64
  events: ReportedEvent[];
  masks: LayerMaskSummary[];
  stats: PrunerStats;
}

export interface TurnStart {
  type: "start";
  node: string;
  /** How many of the oldest context entries did not fit and were left out. */
  droppedEntries: number;
  /** Token ids of each new segment. */
  segmentIds: number[][];
  promptTokens: number;
  cachedTokens: number;
  maxTokens: number;
  /** A sparse node: how the traced tokens reached its KV cache, and the bytes it fetched for the turn's masks before starting. */
  prefill?: PrefillMode;
  bytesFetched?: number;
}

/** A DART pruner event as it happens (a mask built also carries the new per-layer summary). */
export interface TurnDart {
  type: "dart";
  event: ReportedEvent;
  masks?: LayerMaskSummary[];
}

export interface TurnText {
  type: "text";
  text: string;
  /** Tokens whose text starts in this event (when logprobs were asked for). */
  logprobs?: ReportedLogprob[];
}

export interface TurnDone {
  type: "done";
  /** Generated token ids (the stop token excluded). */
  completionIds: number[];
  completion: string;
  finishReason: "stop" | "length";
  prefillMs: number;
  decodeMs: number;
  pruner: PrunerReport;
  /** Bytes this node pushed to another node for the turn (the final state to the tracing full node). */
  nodeToNodeBytes?: number;
}

export interface TurnError {
  type: "error";
  status: number;
  message: string;
  param: string | null;
  code: string | null;
}

export type NodeEvent = TurnStart | TurnText | TurnDart | TurnDone | TurnError;

/** Session object -> gateway: what the OpenAI layer needs to answer. */
export interface SessionStart {
  type: "start";
  sessionId: string;
  /** This turn's number in the session (1 for the first). */
  turn: number;
  droppedMessages: number;
  node: string;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

export interface SessionDone {
  type: "done";
  finishReason: "stop" | "length";
  usage: Usage;
  dart: { method: string; effectiveSparsity: number; remasks: number; denseTokens: number; tokens: number };
}

export type SessionEvent = SessionStart | TurnText | TurnDart | SessionDone | TurnError;

/** What the gateway asks the Session object for one turn (already validated). */
export interface SessionTurnRequest {
  sessionId: string;
  /** Namespace of the API key; the object refuses a session that belongs to another. */
  owner: string;
  model: string;
  /** True for a new session; false when the request named an existing one. */
  create: boolean;
  /** Chat: the request's messages; the Session object appends the ones it has not seen. */
  messages?: { role: string; content: string }[];
  /** Completions: raw text appended to the session as is. */
  prompt?: string;
  maxTokens: number | null;
  temperature: number;
  topP: number;
  seed: number | null;
  /** DART settings the request gave explicitly (null: the session's, or the defaults). */
  dart: DartSettings | null;
  dartDefaults: DartSettings;
  sampling?: SamplingControls;
  /**
   * Automatic continuation: the session's stored history must be exactly messages[0..n)
   * (else 409 history_changed); messages[n..] are new.
   */
  continueAfter?: number;
  /**
   * Responses API previous_response_id: the session must have exactly this many turns (the
   * response named is its latest); all of `messages` are new.
   */
  previousTurn?: number;
  /** Responses API instructions: added as a system message unless the latest stored one says the same. */
  instructions?: string;
  /** Idempotency-Key: a retry with the same key and fingerprint is answered from the stored turn. */
  idempotency?: IdempotencyClaim;
  /** Only answer from a stored turn (or 409 while it runs); 404 idempotency_key_unknown otherwise. */
  replayOnly?: boolean;
}

/** Answers a session keeps for Idempotency-Key retries (workers/session/idempotency.ts); the oldest go first. */
export const MAX_ANSWERS_PER_SESSION = 32;

export interface IdempotencyClaim {
  key: string;
  /** SHA-256 of what makes two requests the same (route, session header, body). */
  fingerprint: string;
}
