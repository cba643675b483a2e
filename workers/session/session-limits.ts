// Bounds on what one client can make a session hold: messages per request
// (MAX_MESSAGES_PER_REQUEST, default 256: 400), stored messages per session
// (MAX_SESSION_MESSAGES, default 4096: 413), idle lifetime (SESSION_IDLE_TTL_S, default 30 days,
// 0 keeps sessions for ever: a Durable Object alarm deletes a session idle that long), and the
// page size of GET /v1/sessions/:id (?limit=, default 100, at most 1000; ?after=<seq>).
import { ApiError, badRequest } from "../../shared/serving/api-error.ts";
import type { Env } from "../env.ts";

export interface SessionLimits {
  maxMessagesPerRequest: number;
  maxSessionMessages: number;
  idleTtlMs: number;
}

const num = (raw: string | undefined, fallback: number) => (raw === undefined || raw.trim() === "" || !(Number(raw) >= 0) ? fallback : Number(raw));

export function sessionLimits(env: Env): SessionLimits {
  return {
    maxMessagesPerRequest: num(env.MAX_MESSAGES_PER_REQUEST, 256),
    maxSessionMessages: num(env.MAX_SESSION_MESSAGES, 4096),
    idleTtlMs: num(env.SESSION_IDLE_TTL_S, 30 * 24 * 3600) * 1000,
  };
}

/** Throws 400 for too many messages in the request, 413 when the session would store too many. */
export function checkMessageCounts(limits: SessionLimits, inRequest: number, stored: number, adding: number): void {
  if (inRequest > limits.maxMessagesPerRequest) {
    throw badRequest(`a request may carry at most ${limits.maxMessagesPerRequest} messages, this one has ${inRequest}`, "messages", "too_many_messages");
  }
  if (stored + adding > limits.maxSessionMessages) {
    throw new ApiError(413, `this session holds ${stored} messages and may hold at most ${limits.maxSessionMessages}; start a new session`, {
      param: "messages",
      code: "session_too_large",
    });
  }
}

export const DEFAULT_PAGE = 100;
export const MAX_PAGE = 1000;

/** ?limit= and ?after= of GET /v1/sessions/:id (after: the last seq of the previous page). */
export function pageOf(url: URL): { limit: number; after: number } {
  const limitRaw = url.searchParams.get("limit");
  const afterRaw = url.searchParams.get("after");
  const limit = limitRaw === null ? DEFAULT_PAGE : Number(limitRaw);
  const after = afterRaw === null ? 0 : Number(afterRaw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw badRequest(`limit must be an integer in [1, ${MAX_PAGE}]`, "limit", "invalid_limit");
  if (!Number.isInteger(after) || after < 0) throw badRequest("after must be a non-negative integer (a message's seq)", "after", "invalid_after");
  return { limit, after };
}
