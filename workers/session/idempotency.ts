// Answers kept for Idempotency-Key retries (gateway/idempotency-key.ts). A completed turn that
// came with a key stores what the gateway needs to answer again (start, the whole text, done);
// a retry with the same key and fingerprint gets that answer replayed and runs nothing. Bounded
// per session (the oldest answers go first) and deleted with the session (DELETE or expiry).
import { ApiError } from "../../shared/serving/api-error.ts";
import { ndjsonLine } from "../../shared/serving/ndjson.ts";
import { MAX_ANSWERS_PER_SESSION, type IdempotencyClaim, type ReportedLogprob, type SessionDone, type SessionEvent, type SessionStart } from "../../shared/serving/protocol.ts";

export const IDEMPOTENCY_SCHEMA = `CREATE TABLE IF NOT EXISTS idempotent_answers (
  key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, turn INTEGER NOT NULL, answer TEXT NOT NULL
);`;

export interface StoredAnswer {
  start: SessionStart;
  text: string;
  logprobs: ReportedLogprob[];
  done: SessionDone;
}

/** Writes the answer (inside the turn's transaction) and drops the oldest beyond the bound. */
export function storeAnswer(sql: SqlStorage, claim: IdempotencyClaim, answer: StoredAnswer): void {
  sql.exec("INSERT OR REPLACE INTO idempotent_answers (key, fingerprint, turn, answer) VALUES (?, ?, ?, ?)", claim.key, claim.fingerprint, answer.start.turn, JSON.stringify(answer));
  sql.exec(
    "DELETE FROM idempotent_answers WHERE key NOT IN (SELECT key FROM idempotent_answers ORDER BY turn DESC LIMIT ?)",
    MAX_ANSWERS_PER_SESSION,
  );
}

/**
 * The stored answer for `claim` as the NDJSON stream a live turn would give (one text event),
 * null when the key is new; a key reused for a different request is a 422.
 */
export function replayAnswer(sql: SqlStorage, claim: IdempotencyClaim): Response | null {
  const row = sql.exec<{ fingerprint: string; answer: string }>("SELECT fingerprint, answer FROM idempotent_answers WHERE key = ?", claim.key).toArray()[0];
  if (!row) return null;
  if (row.fingerprint !== claim.fingerprint) {
    throw new ApiError(422, "this Idempotency-Key was already used for a different request; use a new key for a new request", { code: "idempotency_key_reused" });
  }
  const a = JSON.parse(row.answer) as StoredAnswer;
  const events: SessionEvent[] = [a.start, ...(a.text || a.logprobs.length ? [{ type: "text" as const, text: a.text, ...(a.logprobs.length ? { logprobs: a.logprobs } : {}) }] : []), a.done];
  const body = new Blob(events.map((e) => ndjsonLine(e))).stream();
  return new Response(body, { headers: { "content-type": "application/x-ndjson", "idempotent-replayed": "true" } });
}

/** A retry that arrives while its first attempt is still generating. */
export const inProgress = () =>
  new ApiError(409, "a request with this Idempotency-Key is still being answered; retry when it completes", {
    code: "idempotency_key_in_progress",
    headers: { "retry-after": "1" },
  });

/** A replay-only lookup that found nothing: the gateway then runs the request normally. */
export const unknownKey = () => new ApiError(404, "no stored answer for this Idempotency-Key", { code: "idempotency_key_unknown" });
