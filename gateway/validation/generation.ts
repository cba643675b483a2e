// Validation of POST /v1/chat/completions and /v1/completions bodies into one request type.
import { DartSettingsError, parseDartSettings, type DartSettings } from "../../shared/dart/settings.ts";
import { badRequest } from "../../shared/serving/api-error.ts";
import { CHAT_ROLES } from "../../shared/serving/chat-template.ts";
import type { SamplingControls } from "../../shared/serving/protocol.ts";
import { asObject, onlyKnown, optBoolean, optNumber, requiredString, SESSION_ID, type Body } from "./fields.ts";
import { checkNoOpFields, NO_OP_FIELDS } from "./no-op-fields.ts";
import { OPENAI_SAMPLING, type SamplingDefaults } from "../sampling-defaults.ts";
import { parseSampling, SAMPLING_FIELDS } from "./sampling.ts";

export interface GenerationRequest {
  kind: "chat" | "completion";
  model: string;
  messages?: { role: string; content: string }[];
  prompt?: string;
  maxTokens: number | null;
  temperature: number;
  topP: number;
  seed: number | null;
  stream: boolean;
  includeUsage: boolean;
  /** Extension: stream the turn's DART events (stream_options.include_dart_events). */
  includeDartEvents: boolean;
  sessionId: string | null;
  /** Settings the request gave, merged over the defaults; null when it gave none. */
  dart: DartSettings | null;
  /** stop, penalties, logit_bias, logprobs. */
  sampling: SamplingControls;
}

const COMMON = ["model", "max_tokens", "temperature", "top_p", "seed", "stream", "stream_options", "n", "user", "metadata", "store", "session_id", "dart"];
const CHAT_FIELDS = [...COMMON, ...SAMPLING_FIELDS, ...NO_OP_FIELDS, "messages", "max_completion_tokens"];
const COMPLETION_FIELDS = [...COMMON, ...SAMPLING_FIELDS.filter((f) => f !== "top_logprobs"), "prompt", "echo", "suffix"];
export const MAX_TOKENS_LIMIT = 1 << 20;

function messageContent(v: unknown, param: string): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    return v
      .map((part, i) => {
        const p = asObject(part, `${param}[${i}]`);
        if (p.type !== "text" || typeof p.text !== "string") {
          throw badRequest(`${param}[${i}] must be a text part {type: "text", text}; only text is supported`, `${param}[${i}]`, "unsupported_content");
        }
        return p.text;
      })
      .join("");
  }
  throw badRequest(`${param} must be a string or an array of text parts`, param, "invalid_type");
}

function parseMessages(v: unknown): { role: string; content: string }[] {
  if (!Array.isArray(v) || v.length === 0) throw badRequest("messages must be a non-empty array", "messages", v === undefined ? "missing_required_parameter" : "invalid_type");
  return v.map((raw, i) => {
    const m = asObject(raw, `messages[${i}]`);
    onlyKnown(m, ["role", "content", "name"]);
    if (typeof m.role !== "string" || !(CHAT_ROLES as readonly string[]).includes(m.role)) {
      throw badRequest(`messages[${i}].role must be one of ${CHAT_ROLES.join(", ")}; got ${JSON.stringify(m.role)}`, `messages[${i}].role`);
    }
    return { role: m.role, content: messageContent(m.content, `messages[${i}].content`) };
  });
}

function parsePrompt(v: unknown): string {
  if (typeof v === "string") return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === "string") return v[0];
  throw badRequest("prompt must be a string (or an array of exactly one string)", "prompt", v === undefined ? "missing_required_parameter" : "invalid_type");
}

/** The `dart` extension: settings merged over the defaults, or null when the request gave none. */
export function parseDartField(o: Body, dartDefaults: DartSettings): DartSettings | null {
  if (o.dart === undefined || o.dart === null) return null;
  try {
    return parseDartSettings(o.dart, dartDefaults);
  } catch (e) {
    if (e instanceof DartSettingsError) throw badRequest(e.message, e.param, "invalid_dart_settings");
    throw e;
  }
}

export function parseGenerationRequest(kind: GenerationRequest["kind"], raw: unknown, dartDefaults: DartSettings, headerSessionId: string | null, defaults: SamplingDefaults = OPENAI_SAMPLING): GenerationRequest {
  const o: Body = asObject(raw, null);
  onlyKnown(o, kind === "chat" ? CHAT_FIELDS : COMPLETION_FIELDS);
  const model = requiredString(o, "model");
  // Both are checked even when both are given: an invalid one must not pass behind the other.
  const maxCompletionTokens = kind === "chat" ? optNumber(o, "max_completion_tokens", 1, MAX_TOKENS_LIMIT, { integer: true }) : null;
  const maxTokens = optNumber(o, "max_tokens", 1, MAX_TOKENS_LIMIT, { integer: true }) ?? maxCompletionTokens;
  const temperature = optNumber(o, "temperature", 0, 2) ?? defaults.temperature;
  const topP = optNumber(o, "top_p", 0, 1, { minExclusive: true }) ?? defaults.topP;
  const seed = optNumber(o, "seed", -(2 ** 31), 2 ** 31 - 1, { integer: true });
  if (o.n !== undefined && o.n !== null && o.n !== 1) {
    throw badRequest(`n must be 1; got ${JSON.stringify(o.n)}: one choice per request is served (a session continues one conversation)`, "n", "unsupported_parameter");
  }
  checkNoOpFields(o); // completions know only user, metadata and store of these (onlyKnown above)
  const sampling = parseSampling(o, kind);
  const stream = optBoolean(o, "stream") ?? false;
  let includeUsage = false;
  let includeDartEvents = false;
  if (o.stream_options !== undefined && o.stream_options !== null) {
    if (!stream) throw badRequest("stream_options is only allowed when stream is true", "stream_options");
    const so = asObject(o.stream_options, "stream_options");
    onlyKnown(so, ["include_usage", "include_obfuscation", "include_dart_events"]);
    includeUsage = optBoolean(so, "include_usage") ?? false;
    includeDartEvents = optBoolean(so, "include_dart_events") ?? false;
  }
  if (kind === "completion") {
    if (optBoolean(o, "echo")) throw badRequest("echo is not supported", "echo", "unsupported_parameter");
    if (o.suffix !== undefined && o.suffix !== null) throw badRequest("suffix is not supported", "suffix", "unsupported_parameter");
  }
  let sessionId: string | null = null;
  if (o.session_id !== undefined && o.session_id !== null) {
    if (typeof o.session_id !== "string" || !SESSION_ID.test(o.session_id)) throw badRequest("session_id must be 1-128 characters of [A-Za-z0-9_-]", "session_id");
    sessionId = o.session_id;
  }
  if (headerSessionId !== null) {
    if (!SESSION_ID.test(headerSessionId)) throw badRequest("X-Session-Id must be 1-128 characters of [A-Za-z0-9_-]", "X-Session-Id");
    if (sessionId !== null && sessionId !== headerSessionId) throw badRequest("session_id and X-Session-Id name different sessions", "session_id");
    sessionId = headerSessionId;
  }
  const dart = parseDartField(o, dartDefaults);
  const req: GenerationRequest = { kind, model, maxTokens, temperature, topP, seed, stream, includeUsage, includeDartEvents, sessionId, dart, sampling };
  if (kind === "chat") req.messages = parseMessages(o.messages);
  else req.prompt = parsePrompt(o.prompt);
  return req;
}
