// The DART pruner state in the Session object's SQLite, at any size. A Durable Object's
// SQLite refuses a single string or BLOB over about 2 MB (SQLITE_TOOBIG), and an 8B
// model's state in a trace is several MB, so the state is cut into BLOB rows of at most
// STATE_CHUNK_BYTES, with one row naming its version (a SHA-256 prefix of the bytes) and
// size. Callers write it inside the turn's transaction: the old chunks are replaced in
// the same commit as the messages, so a failed write leaves the previous state whole.
// (Why not R2: docs/session-state.md.)
export const STATE_CHUNK_BYTES = 1024 * 1024;

export const STATE_SCHEMA = `
CREATE TABLE IF NOT EXISTS pruner_state (
  id INTEGER PRIMARY KEY CHECK (id = 1), version TEXT NOT NULL, bytes INTEGER NOT NULL, chunks INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pruner_state_chunks (idx INTEGER PRIMARY KEY, data BLOB NOT NULL);`;

export interface StateInfo {
  /** Hex SHA-256 prefix of the state's bytes (shared/serving/state-version.ts); nodes cache states under it. */
  version: string;
  bytes: number;
}

export class StateIntegrityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateIntegrityError";
  }
}

export function stateInfo(sql: SqlStorage): StateInfo | null {
  const r = sql.exec<{ version: string; bytes: number }>("SELECT version, bytes FROM pruner_state WHERE id = 1").toArray()[0];
  return r ? { version: r.version, bytes: r.bytes } : null;
}

/** The stored state's bytes, or null when none is stored; a missing or short chunk throws. */
export function readState(sql: SqlStorage): Uint8Array | null {
  const info = sql.exec<{ bytes: number; chunks: number }>("SELECT bytes, chunks FROM pruner_state WHERE id = 1").toArray()[0];
  if (!info) return null;
  const out = new Uint8Array(info.bytes);
  let at = 0;
  let n = 0;
  for (const r of sql.exec<{ idx: number; data: ArrayBuffer }>("SELECT idx, data FROM pruner_state_chunks ORDER BY idx")) {
    if (r.idx !== n || at + r.data.byteLength > out.length) throw new StateIntegrityError(`pruner state chunk ${r.idx} does not fit the stored size`);
    out.set(new Uint8Array(r.data), at);
    at += r.data.byteLength;
    n++;
  }
  if (n !== info.chunks || at !== info.bytes) throw new StateIntegrityError(`pruner state has ${n} of ${info.chunks} chunks, ${at} of ${info.bytes} bytes`);
  return out;
}

/** Replaces the stored state. Call inside the caller's transaction (transactionSync). */
export function writeState(sql: SqlStorage, bytes: Uint8Array, version: string): void {
  sql.exec("DELETE FROM pruner_state_chunks");
  const chunks = Math.ceil(bytes.byteLength / STATE_CHUNK_BYTES);
  for (let i = 0; i < chunks; i++) {
    const part = bytes.subarray(i * STATE_CHUNK_BYTES, Math.min(bytes.byteLength, (i + 1) * STATE_CHUNK_BYTES));
    sql.exec("INSERT INTO pruner_state_chunks (idx, data) VALUES (?, ?)", i, part.slice().buffer);
  }
  sql.exec("INSERT OR REPLACE INTO pruner_state (id, version, bytes, chunks) VALUES (1, ?, ?, ?)", version, bytes.byteLength, chunks);
}
