// What GET /v1/sessions/:id returns: the history, per-layer mask summary, re-mask events, usage.
import type { DriftEvent } from "../../shared/dart/pruner.ts";
import type { SessionMeta, StoredMessage } from "./store.ts";
import type { TransferView } from "./transfer-log.ts";

/** `page` picks the messages after seq `after`, at most `limit` of them (`has_more`, `next_after` say what is left). */
export function sessionView(
  meta: SessionMeta,
  all: StoredMessage[],
  events: (DriftEvent & { turn: number })[],
  transfer?: TransferView,
  page: { limit: number; after: number } = { limit: Infinity, after: 0 },
) {
  const after = all.filter((m) => m.seq > page.after);
  const messages = after.slice(0, page.limit);
  const hasMore = after.length > messages.length;
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
    messages: messages.map((m) => ({ seq: m.seq, role: m.role, content: m.content, tokens: m.ids.length, turn: m.turn, in_context: m.inContext })),
    total_messages: all.length,
    has_more: hasMore,
    next_after: hasMore ? messages.at(-1)!.seq : null,
    usage: {
      prompt_tokens: meta.usage.promptTokens,
      completion_tokens: meta.usage.completionTokens,
      total_tokens: meta.usage.promptTokens + meta.usage.completionTokens,
      cached_tokens: meta.usage.cachedTokens,
    },
  };
}
