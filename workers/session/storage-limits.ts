// What the Session object's storage takes, as clear errors instead of SQLITE_TOOBIG. A
// Durable Object's SQLite refuses any single string or BLOB over about 2 MB (2,000,000
// characters store, 2,200,000 fail, measured in workerd); the pruner state is chunked
// (state-blob.ts) and bounded by MAX_STATE_BYTES, a message is one row. A turn that breaks
// a limit is not stored and the session keeps everything it had.
import { ApiError } from "../../shared/serving/api-error.ts";

/** Largest string or BLOB written as one SQLite value (below the ~2 MB the platform takes). */
export const MAX_VALUE_BYTES = 2_000_000;
/** Default bound on one session's pruner state (a node's request must carry it too; docs/session-state.md). */
export const DEFAULT_MAX_STATE_BYTES = 16 * 1024 * 1024;

export function maxStateBytes(config: string | undefined): number {
  const n = Number(config);
  return Number.isFinite(n) && n > 0 ? n : DEFAULT_MAX_STATE_BYTES;
}

const utf8Bytes = (s: string) => new TextEncoder().encode(s).byteLength;

/** A message is stored as one row: its text and its token ids (JSON) must each fit one value. */
export function checkMessageFits(role: string, content: string, ids: number[] = []): void {
  const text = utf8Bytes(content);
  const idsJson = ids.length === 0 ? 2 : JSON.stringify(ids).length;
  if (text <= MAX_VALUE_BYTES && idsJson <= MAX_VALUE_BYTES) return;
  throw new ApiError(413, `a ${role} message of ${text} bytes (${ids.length} tokens) is more than the session can store in one message (${MAX_VALUE_BYTES} bytes); nothing was stored`, {
    param: "messages",
    code: "message_too_large",
  });
}

export function stateTooLarge(bytes: number, limit: number): ApiError {
  return new ApiError(507, `this turn's DART pruner state is ${bytes} bytes, over the session's limit of ${limit} bytes (MAX_STATE_BYTES); the turn was not stored and the session is unchanged`, {
    code: "state_too_large",
  });
}

/** SQLite's "too big" refusal (any value the checks above missed) as a clear error; null for other errors. */
export function storageLimitError(e: unknown): ApiError | null {
  if (e instanceof ApiError) return e;
  if (!(e instanceof Error) || !/SQLITE_TOOBIG|too big/i.test(e.message)) return null;
  return new ApiError(507, "the session's storage refused this turn (a value over its size limit); the turn was not stored and the session is unchanged", { code: "storage_limit" });
}
