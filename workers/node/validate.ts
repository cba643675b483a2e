// Shape check of a turn or trace request: the Session object is trusted but a node must not
// crash (or loop for ever) on a malformed body.
import { parseDartSettings, DartSettingsError } from "../../shared/dart/index.ts";

export interface Problem {
  message: string;
  param: string;
}

const isIds = (a: unknown, vocabSize: number): a is number[] => Array.isArray(a) && a.every((x) => Number.isInteger(x) && x >= 0 && x < vocabSize);
/** Whole quads of the base64 alphabet, at most two "=" at the end. Linear: a repeated group (one per quad) overflows V8's regex stack on a multi-MB pruner state. */
const isBase64 = (s: string) => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isBase64s = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === "string" && isBase64(x));
const isB64 = (x: unknown) => typeof x === "string" && isBase64(x);

/** What a turn and a trace share: session, context, new segments, token limit, DART settings and state. */
function validateCommon(o: Record<string, unknown>, vocabSize: number): Problem | null {
  if (typeof o.sessionKey !== "string" || o.sessionKey === "") return { message: "sessionKey must be a non-empty string", param: "sessionKey" };
  if (o.tenant !== undefined && !(typeof o.tenant === "string" && o.tenant.length <= 128)) return { message: "tenant must be a string of at most 128 characters", param: "tenant" };
  if (!Array.isArray(o.context) || !o.context.every((ids) => isIds(ids, vocabSize))) {
    return { message: `context must be an array of arrays of token ids below the vocabulary size (${vocabSize})`, param: "context" };
  }
  if (!Array.isArray(o.segments) || !o.segments.every((s) => typeof s === "object" && s !== null && typeof (s as { text: unknown }).text === "string")) {
    return { message: "segments must be an array of {text}", param: "segments" };
  }
  if (o.maxTokens !== null && !(Number.isInteger(o.maxTokens) && (o.maxTokens as number) >= 1)) return { message: "maxTokens must be a positive integer or null", param: "maxTokens" };
  if (typeof o.prunerState !== "string" || !isBase64(o.prunerState)) return { message: "prunerState must be a base64 string", param: "prunerState" };
  if (o.prunerStateVersion !== undefined && !(typeof o.prunerStateVersion === "string" && /^[0-9a-f]{32}$/.test(o.prunerStateVersion))) {
    return { message: "prunerStateVersion must be 32 hex digits", param: "prunerStateVersion" };
  }
  if (typeof o.dart !== "object" || o.dart === null || Array.isArray(o.dart)) return { message: "dart must be an object of DART settings", param: "dart" };
  try {
    parseDartSettings(o.dart);
  } catch (e) {
    if (e instanceof DartSettingsError) return { message: e.message, param: e.param };
    throw e;
  }
  return null;
}

const HANDOFF_ID = /^[0-9a-f]{32}$/;
const isNodeUrl = (x: unknown) => typeof x === "string" && x.length <= 2048 && /^https?:\/\/[^\s]+$/.test(x);

/** A turn's `trace`: what a full node's trace hands a sparse node (prior masks, KV entries), or where they wait. */
function validateTrace(t: unknown, vocabSize: number): Problem | null {
  if (!isObj(t)) return { message: "trace must be an object", param: "trace" };
  if (t.node !== null && typeof t.node !== "string") return { message: "trace.node must be a string or null", param: "trace.node" };
  if (t.handoff !== undefined && !(typeof t.handoff === "string" && HANDOFF_ID.test(t.handoff))) return { message: "trace.handoff must be 32 hex digits", param: "trace.handoff" };
  if (t.stateTo !== undefined && !isNodeUrl(t.stateTo)) return { message: "trace.stateTo must be an http(s) URL", param: "trace.stateTo" };
  return validateTraceBulk(t, vocabSize, "trace.");
}

/** Prior masks and KV entries of a trace (a turn's `trace`, or a handoff pushed node to node). */
function validateTraceBulk(t: Record<string, unknown>, vocabSize: number, at: string): Problem | null {
  if (t.prior !== null && !(isObj(t.prior) && isBase64s(t.prior.kept) && isBase64s(t.prior.bias))) return { message: `${at}prior must be {kept, bias} of base64 strings, or null`, param: `${at}prior` };
  const kv = t.kv;
  if (kv !== null && !(isObj(kv) && Number.isInteger(kv.from) && (kv.from as number) >= 0 && isIds(kv.ids, vocabSize) && isB64(kv.keys) && isB64(kv.values) && isB64(kv.logits))) {
    return { message: `${at}kv must be {from, ids, keys, values, logits}, or null`, param: `${at}kv` };
  }
  return null;
}

export function validateTraceRequest(b: unknown, vocabSize = Infinity): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  if (b.kvFrom !== null && !(Number.isInteger(b.kvFrom) && (b.kvFrom as number) >= 0)) return { message: "kvFrom must be a non-negative integer or null", param: "kvFrom" };
  const h = b.handoffTo;
  if (h !== undefined && !(isObj(h) && isNodeUrl(h.url) && typeof h.id === "string" && HANDOFF_ID.test(h.id))) {
    return { message: "handoffTo must be {url: an http(s) URL, id: 32 hex digits}", param: "handoffTo" };
  }
  return validateCommon(b, vocabSize);
}

/** POST /v1/handoff: a full node's trace bulk for the decoding node (shared/serving/protocol.ts NodeHandoff). */
export function validateHandoff(b: unknown, vocabSize = Infinity): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  if (typeof b.sessionKey !== "string" || b.sessionKey === "") return { message: "sessionKey must be a non-empty string", param: "sessionKey" };
  if (typeof b.id !== "string" || !HANDOFF_ID.test(b.id)) return { message: "id must be 32 hex digits", param: "id" };
  if (!isB64(b.state)) return { message: "state must be a base64 string", param: "state" };
  return validateTraceBulk(b, vocabSize, "");
}

/** POST /v1/states: a decode's final state for the full node's soft cache. */
export function validateStatePush(b: unknown): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  if (typeof b.sessionKey !== "string" || b.sessionKey === "") return { message: "sessionKey must be a non-empty string", param: "sessionKey" };
  if (!isB64(b.state) || b.state === "") return { message: "state must be a non-empty base64 string", param: "state" };
  return null;
}

/** `vocabSize` bounds the token ids of `context` (an id past the embedding table would crash the engine). */
export function validateTurnRequest(b: unknown, vocabSize = Infinity): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  const o = b;
  if (typeof o.temperature !== "number" || !(o.temperature >= 0 && o.temperature <= 2)) return { message: "temperature must be in [0, 2]", param: "temperature" };
  if (typeof o.topP !== "number" || !(o.topP > 0 && o.topP <= 1)) return { message: "topP must be in (0, 1]", param: "topP" };
  if (!Number.isInteger(o.seed)) return { message: "seed must be an integer", param: "seed" };
  if (o.sampling !== undefined) {
    const problem = samplingProblem(o.sampling);
    if (problem) return { message: problem, param: "sampling" };
  }
  if (o.trace !== undefined) {
    const t = validateTrace(o.trace, vocabSize);
    if (t) return t;
  }
  return validateCommon(o, vocabSize);
}

const inRange = (v: unknown, lo: number, hi: number) => v === undefined || (typeof v === "number" && v >= lo && v <= hi);

/** The SamplingControls shape (shared/serving/protocol.ts), as the gateway builds it. */
function samplingProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "sampling must be an object";
  const s = v as Record<string, unknown>;
  if (s.stop !== undefined && !(Array.isArray(s.stop) && s.stop.length <= 4 && s.stop.every((x) => typeof x === "string" && x.length > 0))) {
    return "sampling.stop must be up to 4 non-empty strings";
  }
  if (!inRange(s.frequencyPenalty, -2, 2) || !inRange(s.presencePenalty, -2, 2)) return "penalties must be in [-2, 2]";
  if (s.topLogprobs !== undefined && !(Number.isInteger(s.topLogprobs) && inRange(s.topLogprobs, 0, 20))) return "sampling.topLogprobs must be an integer in [0, 20]";
  if (s.logitBias !== undefined) {
    if (typeof s.logitBias !== "object" || s.logitBias === null || Array.isArray(s.logitBias)) return "sampling.logitBias must be an object";
    const entries = Object.entries(s.logitBias);
    if (entries.length > 1024 || !entries.every(([k, b]) => /^(0|[1-9][0-9]{0,8})$/.test(k) && inRange(b, -100, 100) && b !== undefined)) {
      return "sampling.logitBias must map up to 1024 token ids to numbers in [-100, 100]";
    }
  }
  return null;
}
