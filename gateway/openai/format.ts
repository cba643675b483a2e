// OpenAI response objects for chat completions and completions, whole and as stream chunks.
import type { ReportedLogprob, SessionDone, SessionStart, TurnDart, Usage } from "../../shared/serving/protocol.ts";
import type { GenerationRequest } from "../validation/generation.ts";
import { logprobsObject } from "./logprobs.ts";

export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
  kind: GenerationRequest["kind"];
  start: SessionStart;
}

export function usageObject(u: Usage) {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
    /** Prompt tokens whose KV cache the node reused from earlier turns (same as cached_tokens). */
    tokens_cached: u.cachedTokens,
  };
}

/** Fields every response object carries beyond OpenAI's: which session, and what the context window did. */
function sessionFields(m: ResponseMeta) {
  return { session_id: m.start.sessionId, dropped_messages: m.start.droppedMessages };
}

function dartObject(done: SessionDone) {
  return {
    method: done.dart.method,
    effective_sparsity: done.dart.effectiveSparsity,
    remasks: done.dart.remasks,
    dense_tokens: done.dart.denseTokens,
    tokens: done.dart.tokens,
  };
}

/** `lps`: the tokens' logprobs when the request asked for them, else null. */
export function completeObject(m: ResponseMeta, text: string, done: SessionDone, lps: ReportedLogprob[] | null) {
  const base = { id: m.id, created: m.created, model: m.model, system_fingerprint: null, ...sessionFields(m) };
  const usage = usageObject(done.usage);
  const dart = dartObject(done);
  if (m.kind === "chat") {
    return {
      ...base,
      object: "chat.completion",
      choices: [{ index: 0, message: { role: "assistant", content: text, refusal: null }, logprobs: logprobsObject("chat", lps), finish_reason: done.finishReason }],
      usage,
      dart,
    };
  }
  return { ...base, object: "text_completion", choices: [{ index: 0, text, logprobs: logprobsObject("completion", lps), finish_reason: done.finishReason }], usage, dart };
}

/** One stream chunk; `text` null with `finish` set is the last content chunk. */
export function chunkObject(m: ResponseMeta, text: string | null, opts: { first?: boolean; finish?: string; includeUsage: boolean; logprobs?: ReportedLogprob[] | null }) {
  const base = { id: m.id, created: m.created, model: m.model, system_fingerprint: null, ...sessionFields(m), ...(opts.includeUsage ? { usage: null } : {}) };
  const finish_reason = opts.finish ?? null;
  if (m.kind === "chat") {
    const delta: Record<string, unknown> = opts.first ? { role: "assistant", content: text ?? "" } : text !== null ? { content: text } : {};
    return { ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta, logprobs: logprobsObject("chat", opts.logprobs ?? null), finish_reason }] };
  }
  return { ...base, object: "text_completion", choices: [{ index: 0, text: text ?? "", logprobs: logprobsObject("completion", opts.logprobs ?? null), finish_reason }] };
}

/**
 * Extension chunk (stream_options.include_dart_events): one DART pruner event as it happens, no
 * choices (like the usage chunk); a mask built also carries the new per-layer kept counts.
 */
export function dartEventChunk(m: ResponseMeta, e: TurnDart) {
  return { ...choicelessChunk(m), dart_event: { ...e.event, ...(e.masks ? { masks: e.masks } : {}) } };
}

/** The frame of a streamed chunk that carries no choices (usage, DART events). */
function choicelessChunk(m: ResponseMeta) {
  return {
    id: m.id,
    created: m.created,
    model: m.model,
    system_fingerprint: null,
    ...sessionFields(m),
    object: m.kind === "chat" ? "chat.completion.chunk" : "text_completion",
    choices: [],
  };
}

/** The extra chunk stream_options.include_usage asks for: no choices, the usage. */
export function usageChunk(m: ResponseMeta, done: SessionDone) {
  return { ...choicelessChunk(m), usage: usageObject(done.usage), dart: dartObject(done) };
}
