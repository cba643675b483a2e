// What GET /v1/sessions/:id returns: the history, per-layer mask summary, re-mask events, usage.
import type { DriftEvent } from "../../shared/dart/pruner.ts";
import type { SessionMeta, StoredMessage } from "./store.ts";
import type { TransferView } from "./transfer-log.ts";

export function sessionView(meta: SessionMeta, messages: StoredMessage[], events: (DriftEvent & { turn: number })[], transfer?: TransferView) {
  return {
    id: meta.sessionId,
    object: "session",
    created: meta.created,
    model: meta.model,
    turns: meta.turns,
    dart: {
      settings: meta.dart,
      masks: meta.masks,
      stats: meta.stats,
      events,
      /** The stored pruner state: its version and size in bytes (null before the first turn). */
      state: meta.state,
    },
    /** Bytes between the Session object and its nodes, per turn and in total. */
    ...(transfer ? { transfer } : {}),
    messages: messages.map((m) => ({ role: m.role, content: m.content, tokens: m.ids.length, turn: m.turn, in_context: m.inContext })),
    usage: {
      prompt_tokens: meta.usage.promptTokens,
      completion_tokens: meta.usage.completionTokens,
      total_tokens: meta.usage.promptTokens + meta.usage.completionTokens,
      cached_tokens: meta.usage.cachedTokens,
    },
  };
}
