// Shape check of a turn request: the Session object is trusted but a node must not crash
// (or loop for ever) on a malformed body.
import { parseDartSettings, DartSettingsError } from "../../shared/dart/index.ts";

export interface Problem {
  message: string;
  param: string;
}

const isIds = (a: unknown, vocabSize: number): a is number[] => Array.isArray(a) && a.every((x) => Number.isInteger(x) && x >= 0 && x < vocabSize);
/** Whole quads of the base64 alphabet, at most two "=" at the end. Linear: a repeated group (one per quad) overflows V8's regex stack on a multi-MB pruner state. */
const isBase64 = (s: string) => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

/** `vocabSize` bounds the token ids of `context` (an id past the embedding table would crash the engine). */
export function validateTurnRequest(b: unknown, vocabSize = Infinity): Problem | null {
  if (typeof b !== "object" || b === null || Array.isArray(b)) return { message: "body must be an object", param: "" };
  const o = b as Record<string, unknown>;
  if (typeof o.sessionKey !== "string" || o.sessionKey === "") return { message: "sessionKey must be a non-empty string", param: "sessionKey" };
  if (o.tenant !== undefined && !(typeof o.tenant === "string" && o.tenant.length <= 128)) return { message: "tenant must be a string of at most 128 characters", param: "tenant" };
  if (!Array.isArray(o.context) || !o.context.every((ids) => isIds(ids, vocabSize))) {
    return { message: `context must be an array of arrays of token ids below the vocabulary size (${vocabSize})`, param: "context" };
  }
  if (!Array.isArray(o.segments) || !o.segments.every((s) => typeof s === "object" && s !== null && typeof (s as { text: unknown }).text === "string")) {
    return { message: "segments must be an array of {text}", param: "segments" };
  }
  if (o.maxTokens !== null && !(Number.isInteger(o.maxTokens) && (o.maxTokens as number) >= 1)) return { message: "maxTokens must be a positive integer or null", param: "maxTokens" };
  if (typeof o.temperature !== "number" || !(o.temperature >= 0 && o.temperature <= 2)) return { message: "temperature must be in [0, 2]", param: "temperature" };
  if (typeof o.topP !== "number" || !(o.topP > 0 && o.topP <= 1)) return { message: "topP must be in (0, 1]", param: "topP" };
  if (!Number.isInteger(o.seed)) return { message: "seed must be an integer", param: "seed" };
  if (typeof o.prunerState !== "string" || !isBase64(o.prunerState)) return { message: "prunerState must be a base64 string", param: "prunerState" };
  if (o.prunerStateVersion !== undefined && !(typeof o.prunerStateVersion === "string" && /^[0-9a-f]{32}$/.test(o.prunerStateVersion))) {
    return { message: "prunerStateVersion must be 32 hex digits", param: "prunerStateVersion" };
  }
  if (typeof o.dart !== "object" || o.dart === null || Array.isArray(o.dart)) return { message: "dart must be an object of DART settings", param: "dart" };
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
