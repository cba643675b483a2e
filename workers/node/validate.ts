// Shape check of a turn request: the Session object is trusted but a node must not crash
// (or loop for ever) on a malformed body.
import { parseDartSettings, DartSettingsError } from "../../shared/dart/index.ts";

export interface Problem {
  message: string;
  param: string;
}

const isIds = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => Number.isInteger(x) && x >= 0);

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isStrings = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === "string");

/** What a turn and a trace share: session, context, new segments, token limit, DART settings and state. */
function validateCommon(o: Record<string, unknown>): Problem | null {
  if (typeof o.sessionKey !== "string" || o.sessionKey === "") return { message: "sessionKey must be a non-empty string", param: "sessionKey" };
  if (!Array.isArray(o.context) || !o.context.every(isIds)) return { message: "context must be an array of token id arrays", param: "context" };
  if (!Array.isArray(o.segments) || !o.segments.every((s) => typeof s === "object" && s !== null && typeof (s as { text: unknown }).text === "string")) {
    return { message: "segments must be an array of {text}", param: "segments" };
  }
  if (o.maxTokens !== null && !(Number.isInteger(o.maxTokens) && (o.maxTokens as number) >= 1)) return { message: "maxTokens must be a positive integer or null", param: "maxTokens" };
  if (typeof o.prunerState !== "string") return { message: "prunerState must be a base64 string", param: "prunerState" };
  if (o.sampling !== undefined) {
    const problem = samplingProblem(o.sampling);
    if (problem) return { message: problem, param: "sampling" };
  }
  try {
    parseDartSettings(o.dart);
  } catch (e) {
    if (e instanceof DartSettingsError) return { message: e.message, param: e.param };
    throw e;
  }
  return null;
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

function validateTrace(t: unknown): Problem | null {
  if (!isObj(t)) return { message: "trace must be an object", param: "trace" };
  if (t.node !== null && typeof t.node !== "string") return { message: "trace.node must be a string or null", param: "trace.node" };
  if (t.prior !== null && !(isObj(t.prior) && isStrings(t.prior.kept) && isStrings(t.prior.bias))) return { message: "trace.prior must be {kept, bias} of base64 strings, or null", param: "trace.prior" };
  const kv = t.kv;
  if (kv !== null && !(isObj(kv) && Number.isInteger(kv.from) && isIds(kv.ids) && typeof kv.keys === "string" && typeof kv.values === "string" && typeof kv.logits === "string")) {
    return { message: "trace.kv must be {from, ids, keys, values, logits}, or null", param: "trace.kv" };
  }
  return null;
}

export function validateTraceRequest(b: unknown): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  if (b.kvFrom !== null && !(Number.isInteger(b.kvFrom) && (b.kvFrom as number) >= 0)) return { message: "kvFrom must be a non-negative integer or null", param: "kvFrom" };
  return validateCommon(b);
}

export function validateTurnRequest(b: unknown): Problem | null {
  if (!isObj(b)) return { message: "body must be an object", param: "" };
  const o = b;
  const common = validateCommon(o);
  if (common) return common;
  if (o.trace !== undefined) {
    const t = validateTrace(o.trace);
    if (t) return t;
  }
  if (typeof o.temperature !== "number" || !(o.temperature >= 0 && o.temperature <= 2)) return { message: "temperature must be in [0, 2]", param: "temperature" };
  if (typeof o.topP !== "number" || !(o.topP > 0 && o.topP <= 1)) return { message: "topP must be in (0, 1]", param: "topP" };
  if (!Number.isInteger(o.seed)) return { message: "seed must be an integer", param: "seed" };
  return null;
}
