// Validation of POST /v1/responses bodies (OpenAI's Responses API, text only): input as a
// string or message items, instructions, previous_response_id, store, stream,
// max_output_tokens, temperature, top_p, and the harmless fields its clients send.
import type { DartSettings } from "../../shared/dart/settings.ts";
import { OPENAI_SAMPLING, type SamplingDefaults } from "../sampling-defaults.ts";
import { badRequest } from "../../shared/serving/api-error.ts";
import { CHAT_ROLES } from "../../shared/serving/chat-template.ts";
import { asObject, onlyKnown, optBoolean, optNumber, requiredString, type Body } from "./fields.ts";
import { MAX_TOKENS_LIMIT, parseDartField } from "./generation.ts";
import { checkNoOpFields, checkTextFormat } from "./no-op-fields.ts";

export interface ResponsesRequest {
  model: string;
  /** The input as chat messages (instructions not included). */
  input: { role: string; content: string }[];
  instructions: string | null;
  previous: { sessionId: string; turn: number; id: string } | null;
  store: boolean;
  stream: boolean;
  maxOutputTokens: number | null;
  temperature: number;
  topP: number;
  metadata: Record<string, string>;
  dart: DartSettings | null;
}

const FIELDS = [
  "model", "input", "instructions", "previous_response_id", "store", "stream", "stream_options", "max_output_tokens", "temperature", "top_p",
  "metadata", "user", "service_tier", "parallel_tool_calls", "tools", "tool_choice", "truncation", "text", "reasoning", "include", "dart",
];

/** resp_<turn>_<session id>: the response names the session turn it answered. */
export const RESPONSE_ID = /^resp_([1-9][0-9]{0,8})_([A-Za-z0-9_-]{1,128})$/;
export const responseId = (sessionId: string, turn: number) => `resp_${turn}_${sessionId}`;

const TEXT_PARTS = ["input_text", "output_text", "text"];

function itemText(v: unknown, param: string): string {
  if (typeof v === "string") return v;
  if (!Array.isArray(v)) throw badRequest(`${param} must be a string or an array of text parts`, param, "invalid_type");
  return v
    .map((part, i) => {
      const p = asObject(part, `${param}[${i}]`);
      if (!TEXT_PARTS.includes(p.type as string) || typeof p.text !== "string") {
        throw badRequest(`${param}[${i}] must be a text part {type: "input_text", text}; only text is supported`, `${param}[${i}]`, "unsupported_content");
      }
      return p.text;
    })
    .join("");
}

function parseInput(v: unknown): { role: string; content: string }[] {
  if (typeof v === "string") return [{ role: "user", content: v }];
  if (!Array.isArray(v) || v.length === 0) throw badRequest("input must be a string or a non-empty array of message items", "input", v === undefined ? "missing_required_parameter" : "invalid_type");
  return v.map((raw, i) => {
    const m = asObject(raw, `input[${i}]`);
    if (m.type !== undefined && m.type !== "message") {
      throw badRequest(`input[${i}].type ${JSON.stringify(m.type)} is not supported; only message items (text) are`, `input[${i}].type`, "unsupported_content");
    }
    onlyKnown(m, ["type", "role", "content", "id", "status"]);
    if (typeof m.role !== "string" || !(CHAT_ROLES as readonly string[]).includes(m.role)) {
      throw badRequest(`input[${i}].role must be one of ${CHAT_ROLES.join(", ")}; got ${JSON.stringify(m.role)}`, `input[${i}].role`);
    }
    return { role: m.role, content: itemText(m.content, `input[${i}].content`) };
  });
}

export function parseResponsesRequest(raw: unknown, dartDefaults: DartSettings, defaults: SamplingDefaults = OPENAI_SAMPLING): ResponsesRequest {
  const o: Body = asObject(raw, null);
  onlyKnown(o, FIELDS);
  const model = requiredString(o, "model");
  const input = parseInput(o.input);
  if (o.instructions !== undefined && o.instructions !== null && typeof o.instructions !== "string") throw badRequest("instructions must be a string", "instructions", "invalid_type");
  let previous: ResponsesRequest["previous"] = null;
  if (o.previous_response_id !== undefined && o.previous_response_id !== null) {
    const m = typeof o.previous_response_id === "string" ? RESPONSE_ID.exec(o.previous_response_id) : null;
    if (!m) throw badRequest("previous_response_id must be the id of a response of this server (resp_...)", "previous_response_id");
    previous = { turn: Number(m[1]), sessionId: m[2]!, id: o.previous_response_id as string };
  }
  checkNoOpFields({ tools: o.tools, tool_choice: o.tool_choice, parallel_tool_calls: o.parallel_tool_calls, service_tier: o.service_tier, user: o.user, metadata: o.metadata });
  if (o.text !== undefined && o.text !== null) {
    const t = asObject(o.text, "text");
    onlyKnown(t, ["format", "verbosity"]);
    checkTextFormat(t.format, "text.format");
  }
  if (o.truncation !== undefined && o.truncation !== null && o.truncation !== "disabled" && o.truncation !== "auto") throw badRequest('truncation must be "disabled" or "auto"', "truncation");
  if (o.reasoning !== undefined && o.reasoning !== null) throw badRequest("reasoning is not supported: the served model does not reason in a separate channel", "reasoning", "unsupported_parameter");
  if (o.include !== undefined && o.include !== null && !(Array.isArray(o.include) && o.include.length === 0)) throw badRequest("include is not supported (no extra output data); send [] or omit it", "include", "unsupported_parameter");
  const stream = optBoolean(o, "stream") ?? false;
  if (o.stream_options !== undefined && o.stream_options !== null) {
    if (!stream) throw badRequest("stream_options is only allowed when stream is true", "stream_options");
    onlyKnown(asObject(o.stream_options, "stream_options"), ["include_obfuscation"]);
  }
  return {
    model,
    input,
    instructions: (o.instructions as string | null | undefined) ?? null,
    previous,
    store: optBoolean(o, "store") ?? true,
    stream,
    maxOutputTokens: optNumber(o, "max_output_tokens", 1, MAX_TOKENS_LIMIT, { integer: true }),
    temperature: optNumber(o, "temperature", 0, 2) ?? defaults.temperature,
    topP: optNumber(o, "top_p", 0, 1, { minExclusive: true }) ?? defaults.topP,
    metadata: (o.metadata as Record<string, string> | null | undefined) ?? {},
    dart: parseDartField(o, dartDefaults),
  };
}
