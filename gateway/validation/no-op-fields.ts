// Fields OpenAI clients send by default that change nothing for this server: accepted when
// harmless, a clear 400 naming the field when honouring them would need something this
// server does not do (JSON-constrained decoding, tool calls).
import { badRequest } from "../../shared/serving/api-error.ts";
import { asObject, optBoolean, type Body } from "./fields.ts";

export const NO_OP_FIELDS = ["response_format", "tools", "tool_choice", "parallel_tool_calls", "service_tier", "store", "metadata", "user"] as const;

const present = (v: unknown) => v !== undefined && v !== null;

/** response_format (chat) or text.format (responses): only plain text. */
export function checkTextFormat(v: unknown, param: string): void {
  if (!present(v)) return;
  const type = asObject(v, param).type;
  if (type === "text") return;
  if (type === "json_object" || type === "json_schema") {
    throw badRequest(
      `${param} ${type} is not supported: this server does not constrain decoding to JSON (the model's output is free text); omit ${param} or use {"type": "text"}`,
      param,
      "unsupported_parameter",
    );
  }
  throw badRequest(`${param}.type must be "text"; got ${JSON.stringify(type)}`, param);
}

export function checkNoOpFields(o: Body): void {
  checkTextFormat(o.response_format, "response_format");
  if (present(o.tools)) {
    if (!Array.isArray(o.tools)) throw badRequest("tools must be an array", "tools", "invalid_type");
    if (o.tools.length > 0) {
      throw badRequest("tools are not supported: the served model's chat template has no tool-call format; send tools: [] or omit it", "tools", "unsupported_parameter");
    }
  }
  // With no tools there is nothing to call: "none" and "auto" mean the same here.
  if (present(o.tool_choice) && o.tool_choice !== "none" && o.tool_choice !== "auto") {
    throw badRequest(`tool_choice ${JSON.stringify(o.tool_choice)} needs tools, which are not supported; use "none"`, "tool_choice", "unsupported_parameter");
  }
  optBoolean(o, "parallel_tool_calls");
  optBoolean(o, "store");
  if (present(o.service_tier) && typeof o.service_tier !== "string") throw badRequest("service_tier must be a string", "service_tier", "invalid_type");
  if (present(o.user) && typeof o.user !== "string") throw badRequest("user must be a string", "user", "invalid_type");
  if (present(o.metadata)) {
    const entries = Object.entries(asObject(o.metadata, "metadata"));
    const ok = entries.length <= 16 && entries.every(([k, v]) => k.length <= 64 && typeof v === "string" && v.length <= 512);
    if (!ok) throw badRequest("metadata must hold at most 16 string values (keys up to 64, values up to 512 characters)", "metadata");
  }
}
