// Bindings and configuration of the gateway Worker and its Durable Objects (see wrangler.toml).
import type { MetricsObject } from "./metrics/metrics-object.ts";
import type { RateLimiter } from "./rate-limit/rate-limiter.ts";
import type { SessionObject } from "./session/session-object.ts";
import type { SessionIndex } from "./session-index/session-index.ts";

export interface Env {
  SESSIONS: DurableObjectNamespace<SessionObject>;
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** Per-key index of stored histories: continues the session of a client that resends the conversation. */
  SESSION_INDEX: DurableObjectNamespace<SessionIndex>;
  /** Gateway counters (requests, tokens, time to first token), summed over METRICS_SHARDS objects. */
  METRICS: DurableObjectNamespace<MetricsObject>;
  /** How many MetricsObject shards requests spread over (default 1). */
  METRICS_SHARDS?: string;
  /** Bearer for GET /metrics besides the API keys (a secret; empty for API keys only). */
  METRICS_TOKEN?: string;
  /** The weight store (manifest, base blob, neuron shards); nodes read it, the gateway lists it. */
  WEIGHTS: R2Bucket;
  /** Full inference nodes (the whole model; they trace, and decode what sparse nodes cannot), comma-separated. */
  NODES: string;
  /** Sparse inference nodes (base weights + mask shards; they decode traced turns), comma-separated; empty: none. */
  SPARSE_NODES?: string;
  /** How a sparse node gets the traced tokens into its KV cache: "kv" (default: the full node's entries travel) or "masked" (it prefills with the new masks). */
  PREFILL_MODE?: string;
  /** Bearer token the Session objects present to nodes (secret; empty for none). */
  NODE_TOKEN?: string;
  /** Bearer for GET /weights/* (nodes loading from the store); default NODE_TOKEN. */
  WEIGHTS_TOKEN?: string;
  /** How long a node may take to start a turn before the next node is tried (default 30000). */
  NODE_TIMEOUT_MS?: string;
  /** Largest DART pruner state a session stores, in bytes (default 16 MiB; see docs/session-state.md). */
  MAX_STATE_BYTES?: string;
  /** Model id served (what /v1/models lists and requests must name). */
  MODEL_ID: string;
  /** Accepted API keys' salted PBKDF2 entries (or bare SHA-256 hex), comma-separated (a secret). */
  API_KEY_HASHES?: string;
  RATE_LIMIT_PER_MINUTE?: string;
  /** Session bounds (workers/session/session-limits.ts). */
  MAX_MESSAGES_PER_REQUEST?: string;
  MAX_SESSION_MESSAGES?: string;
  /** Seconds a session may stay idle before an alarm deletes it (default 30 days, 0 never). */
  SESSION_IDLE_TTL_S?: string;
  /** Concurrent turns one API key may have in flight before 429 (default 8, 0 off). */
  MAX_CONCURRENT_TURNS_PER_KEY?: string;
  /** Failed authentications allowed per client address and minute before 429 (default 60, 0 off). */
  AUTH_FAILURES_PER_MINUTE?: string;
  MAX_BODY_BYTES?: string;
  /** "plain", "transcript" or a JSON template (shared/serving/chat-template.ts). */
  CHAT_TEMPLATE?: string;
  /** Default DART settings: an object (wrangler.toml) or its JSON (--var). */
  DART_DEFAULTS?: string | Record<string, unknown>;
  /** Sampling for requests that omit it: `{temperature, top_p}` (wrangler.toml) or its JSON (--var). */
  SAMPLING_DEFAULTS?: string | Record<string, unknown>;
}
