// Per-API-key index of stored conversations, so a client that resends the whole history
// without naming a session (most OpenAI clients) continues its own session: one entry per
// session, the hash of its complete stored history (shared/serving/history-hash.ts). One object
// per key namespace, so a lookup can never see another key's sessions. Bounded: the oldest
// entries go first beyond MAX_ENTRIES (their sessions stay reachable by id).
import { DurableObject } from "cloudflare:workers";

export interface IndexHit {
  sessionId: string;
  /** How many messages the session holds: the request's first `messages` are its history. */
  messages: number;
}

export const MAX_ENTRIES = 10_000;
/** SQLite bound parameters per query are limited; look hashes up in batches. */
const BATCH = 90;

const SCHEMA = `CREATE TABLE IF NOT EXISTS prefixes (
  session_id TEXT PRIMARY KEY, hash TEXT NOT NULL, messages INTEGER NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS prefixes_hash ON prefixes (hash);
CREATE INDEX IF NOT EXISTS prefixes_updated ON prefixes (updated);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY, session_id TEXT NOT NULL, updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_session ON idempotency_keys (session_id);
CREATE INDEX IF NOT EXISTS idempotency_keys_updated ON idempotency_keys (updated);`;

export class SessionIndex extends DurableObject {
  constructor(ctx: DurableObjectState, env: unknown) {
    super(ctx, env as never);
    ctx.storage.sql.exec(SCHEMA);
  }

  /** The most recently updated session whose whole history has one of `hashes`, longest first. */
  lookup(hashes: string[]): IndexHit | null {
    let best: IndexHit | null = null;
    let bestUpdated = -1;
    for (let i = 0; i < hashes.length; i += BATCH) {
      const batch = hashes.slice(i, i + BATCH);
      const rows = this.ctx.storage.sql
        .exec<{ session_id: string; messages: number; updated: number }>(
          `SELECT session_id, messages, updated FROM prefixes WHERE hash IN (${batch.map(() => "?").join(",")})`,
          ...batch,
        )
        .toArray();
      for (const r of rows) {
        if (!best || r.messages > best.messages || (r.messages === best.messages && r.updated > bestUpdated)) {
          best = { sessionId: r.session_id, messages: r.messages };
          bestUpdated = r.updated;
        }
      }
    }
    return best;
  }

  /** The session's history is now `messages` long with hash `hash` (replaces its entry). */
  record(sessionId: string, hash: string, messages: number): void {
    const sql = this.ctx.storage.sql;
    sql.exec("INSERT OR REPLACE INTO prefixes (session_id, hash, messages, updated) VALUES (?, ?, ?, ?)", sessionId, hash, messages, Date.now());
    const count = sql.exec<{ n: number }>("SELECT count(*) AS n FROM prefixes").one().n;
    if (count > MAX_ENTRIES) {
      sql.exec("DELETE FROM prefixes WHERE session_id IN (SELECT session_id FROM prefixes ORDER BY updated LIMIT ?)", count - MAX_ENTRIES);
    }
  }

  forget(sessionId: string): void {
    this.ctx.storage.sql.exec("DELETE FROM prefixes WHERE session_id = ?", sessionId);
    this.ctx.storage.sql.exec("DELETE FROM idempotency_keys WHERE session_id = ?", sessionId);
  }

  /** The session that took a request with this Idempotency-Key (it keeps the answer), or null. */
  sessionForKey(key: string): string | null {
    return this.ctx.storage.sql.exec<{ session_id: string }>("SELECT session_id FROM idempotency_keys WHERE key = ?", key).toArray()[0]?.session_id ?? null;
  }

  /** A request with this Idempotency-Key started a turn in `sessionId` (bounded like the prefixes). */
  recordKey(key: string, sessionId: string): void {
    const sql = this.ctx.storage.sql;
    sql.exec("INSERT OR REPLACE INTO idempotency_keys (key, session_id, updated) VALUES (?, ?, ?)", key, sessionId, Date.now());
    const count = sql.exec<{ n: number }>("SELECT count(*) AS n FROM idempotency_keys").one().n;
    if (count > MAX_ENTRIES) sql.exec("DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys ORDER BY updated LIMIT ?)", count - MAX_ENTRIES);
  }
}
