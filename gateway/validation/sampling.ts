// OpenAI's sampling and output controls beyond temperature / top-p: stop, frequency_penalty,
// presence_penalty, logit_bias and logprobs (chat: a boolean plus top_logprobs 0-20;
// legacy completions: an integer 0-5), checked and turned into the node's SamplingControls.
import { badRequest } from "../../shared/serving/api-error.ts";
import type { SamplingControls } from "../../shared/serving/protocol.ts";
import { asObject, optBoolean, optNumber, type Body } from "./fields.ts";

export const SAMPLING_FIELDS = ["stop", "frequency_penalty", "presence_penalty", "logit_bias", "logprobs", "top_logprobs"] as const;
export const MAX_STOP_SEQUENCES = 4;
export const MAX_STOP_LENGTH = 1024;
export const MAX_LOGIT_BIAS_ENTRIES = 1024;

const present = (v: unknown) => v !== undefined && v !== null;

function parseStop(v: unknown): string[] | undefined {
  if (!present(v)) return undefined;
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || list.length > MAX_STOP_SEQUENCES || !list.every((s) => typeof s === "string" && s.length > 0 && s.length <= MAX_STOP_LENGTH)) {
    throw badRequest(`stop must be a non-empty string or an array of up to ${MAX_STOP_SEQUENCES} non-empty strings (each at most ${MAX_STOP_LENGTH} characters)`, "stop");
  }
  return list.length > 0 ? (list as string[]) : undefined;
}

function parseLogitBias(v: unknown): Record<string, number> | undefined {
  if (!present(v)) return undefined;
  const o = asObject(v, "logit_bias");
  const entries = Object.entries(o);
  if (entries.length > MAX_LOGIT_BIAS_ENTRIES) throw badRequest(`logit_bias may name at most ${MAX_LOGIT_BIAS_ENTRIES} tokens`, "logit_bias");
  for (const [id, b] of entries) {
    if (!/^(0|[1-9][0-9]{0,8})$/.test(id)) throw badRequest(`logit_bias keys must be token ids (non-negative integers); got ${JSON.stringify(id)}`, "logit_bias");
    if (typeof b !== "number" || !(b >= -100 && b <= 100)) throw badRequest(`logit_bias values must be numbers in [-100, 100]; got ${JSON.stringify(b)} for token ${id}`, "logit_bias");
  }
  return entries.length > 0 ? (o as Record<string, number>) : undefined;
}

/** How many top alternatives per token the request wants (undefined: no logprobs). */
function parseLogprobs(o: Body, kind: "chat" | "completion"): number | undefined {
  if (kind === "completion") return optNumber(o, "logprobs", 0, 5, { integer: true }) ?? undefined;
  const want = optBoolean(o, "logprobs") ?? false;
  const top = optNumber(o, "top_logprobs", 0, 20, { integer: true });
  if (top !== null && !want) throw badRequest("top_logprobs needs logprobs: true", "top_logprobs");
  return want ? (top ?? 0) : undefined;
}

export function parseSampling(o: Body, kind: "chat" | "completion"): SamplingControls {
  if (kind === "completion" && present(o.top_logprobs)) throw badRequest("top_logprobs is a chat parameter; completions take logprobs: <0-5>", "top_logprobs", "unknown_parameter");
  const s: SamplingControls = {};
  const stop = parseStop(o.stop);
  if (stop) s.stop = stop;
  const frequency = optNumber(o, "frequency_penalty", -2, 2);
  if (frequency) s.frequencyPenalty = frequency;
  const presence = optNumber(o, "presence_penalty", -2, 2);
  if (presence) s.presencePenalty = presence;
  const bias = parseLogitBias(o.logit_bias);
  if (bias) s.logitBias = bias;
  const top = parseLogprobs(o, kind);
  if (top !== undefined) s.topLogprobs = top;
  return s;
}
