// OpenAI Responses API objects: the response (one assistant message item of output_text) and
// the streaming events, each `event: <type>` + `data: {type, sequence_number, ...}`.
import type { SessionDone, SessionStart } from "../../shared/serving/protocol.ts";
import { responseId, type ResponsesRequest } from "../validation/responses.ts";

export interface ResponseState {
  req: ResponsesRequest;
  start: SessionStart;
  createdAt: number;
  text: string;
  done: SessionDone | null;
}

export const messageItemId = (s: ResponseState) => `msg_${s.start.turn}_${s.start.sessionId}`;

function outputItem(s: ResponseState, status: "in_progress" | "completed" | "incomplete") {
  const content = status === "in_progress" ? [] : [{ type: "output_text", text: s.text, annotations: [], logprobs: [] }];
  return { id: messageItemId(s), type: "message", status, role: "assistant", content };
}

export function responseObject(s: ResponseState) {
  const d = s.done;
  const status = d === null ? "in_progress" : d.finishReason === "length" ? "incomplete" : "completed";
  return {
    id: responseId(s.start.sessionId, s.start.turn),
    object: "response",
    created_at: s.createdAt,
    status,
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions: s.req.instructions,
    max_output_tokens: s.req.maxOutputTokens,
    model: s.req.model,
    output: d === null ? [] : [outputItem(s, status === "incomplete" ? "incomplete" : "completed")],
    parallel_tool_calls: false,
    previous_response_id: s.req.previous?.id ?? null,
    reasoning: { effort: null, summary: null },
    store: s.req.store,
    temperature: s.req.temperature,
    text: { format: { type: "text" } },
    tool_choice: "none",
    tools: [],
    top_p: s.req.topP,
    truncation: "disabled",
    usage:
      d === null
        ? null
        : {
            input_tokens: d.usage.promptTokens,
            input_tokens_details: { cached_tokens: d.usage.cachedTokens },
            output_tokens: d.usage.completionTokens,
            output_tokens_details: { reasoning_tokens: 0 },
            total_tokens: d.usage.promptTokens + d.usage.completionTokens,
          },
    user: null,
    metadata: s.req.metadata,
    // Extensions, as on chat completions: the session this response belongs to, and what DART did.
    session_id: s.start.sessionId,
    dropped_messages: s.start.droppedMessages,
    ...(d ? { dart: { method: d.dart.method, effective_sparsity: d.dart.effectiveSparsity, remasks: d.dart.remasks, dense_tokens: d.dart.denseTokens, tokens: d.dart.tokens } } : {}),
  };
}

/** Numbers the stream's events; each payload becomes an SSE event named by its type. */
export class ResponseEvents {
  private seq = 0;
  private readonly s: ResponseState;
  constructor(s: ResponseState) {
    this.s = s;
  }

  private ev(type: string, body: Record<string, unknown>) {
    return { type, sequence_number: this.seq++, ...body };
  }

  private part(text: string) {
    return { item_id: messageItemId(this.s), output_index: 0, content_index: 0, part: { type: "output_text", text, annotations: [], logprobs: [] } };
  }

  opening() {
    const r = responseObject(this.s);
    return [
      this.ev("response.created", { response: r }),
      this.ev("response.in_progress", { response: r }),
      this.ev("response.output_item.added", { output_index: 0, item: outputItem(this.s, "in_progress") }),
      this.ev("response.content_part.added", this.part("")),
    ];
  }

  delta(text: string) {
    return this.ev("response.output_text.delta", { item_id: messageItemId(this.s), output_index: 0, content_index: 0, delta: text, logprobs: [] });
  }

  closing() {
    const r = responseObject(this.s);
    const done = r.status === "incomplete" ? "response.incomplete" : "response.completed";
    return [
      this.ev("response.output_text.done", { item_id: messageItemId(this.s), output_index: 0, content_index: 0, text: this.s.text, logprobs: [] }),
      this.ev("response.content_part.done", this.part(this.s.text)),
      this.ev("response.output_item.done", { output_index: 0, item: r.output[0] }),
      this.ev(done, { response: r }),
    ];
  }

  error(e: { message: string; code: string | null; param: string | null }) {
    return this.ev("error", { code: e.code, message: e.message, param: e.param });
  }
}
