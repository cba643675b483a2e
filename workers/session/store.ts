// The Session object's SQLite tables: one row of session metadata, the messages with
// their token ids, the DART re-mask events and the pruner state (state-blob.ts). Everything
// a turn changes is written in one transaction, after the turn completes.
import type { DriftEvent, LayerMaskSummary, PrunerStats } from "../../shared/dart/pruner.ts";
import type { DartSettings } from "../../shared/dart/settings.ts";
import { fromBase64 } from "../../shared/serving/base64.ts";
import { readState, STATE_SCHEMA, stateInfo, writeState, type StateInfo } from "./state-blob.ts";
import { checkMessageFits, storageLimitError } from "./storage-limits.ts";
import type { TurnTransfer } from "./state-transfer.ts";
import { recordTransfer, TRANSFER_SCHEMA, transferView, type TransferView } from "./transfer-log.ts";
import { IDEMPOTENCY_SCHEMA, storeAnswer, type StoredAnswer } from "./idempotency.ts";
import type { IdempotencyClaim } from "../../shared/serving/protocol.ts";

export interface SessionMeta {
  sessionId: string;
  owner: string;
  model: string;
  created: number;
  dart: DartSettings;
  /** The stored pruner state's version and size (null: none yet, or only a pre-v2 base64 copy). */
  state: StateInfo | null;
  masks: LayerMaskSummary[];
  stats: PrunerStats | null;
  turns: number;
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number };
}

export interface StoredMessage {
  seq: number;
  role: string;
  content: string;
  ids: number[];
  inContext: boolean;
  turn: number;
}

export interface TurnRecord {
  droppedMessages: number;
  messages: { role: string; content: string; ids: number[] }[];
  /** The pruner's new state and its version (stateVersion of the bytes). */
  prunerState: { bytes: Uint8Array; version: string };
  /** Bytes this turn moved between the Session object and its node. */
  transfer?: TurnTransfer;
  events: DriftEvent[];
  masks: LayerMaskSummary[];
  stats: PrunerStats;
  usage: { promptTokens: number; completionTokens: number; cachedTokens: number };
  /** The answer to keep for retries of a request that came with an Idempotency-Key. */
  idempotent?: { claim: IdempotencyClaim; answer: StoredAnswer };
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS session (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  session_id TEXT NOT NULL, owner TEXT NOT NULL, model TEXT NOT NULL, created INTEGER NOT NULL,
  dart TEXT NOT NULL, pruner_state TEXT NOT NULL DEFAULT '' /* pre-v2 base64 state, emptied by the next turn */, masks TEXT NOT NULL DEFAULT '[]', stats TEXT,
  turns INTEGER NOT NULL DEFAULT 0,
  prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, turn INTEGER NOT NULL, role TEXT NOT NULL, content TEXT NOT NULL,
  ids TEXT NOT NULL, in_context INTEGER NOT NULL DEFAULT 1, created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, turn INTEGER NOT NULL, event TEXT NOT NULL
);
${STATE_SCHEMA}
${TRANSFER_SCHEMA}
${IDEMPOTENCY_SCHEMA}`;

type Row = Record<string, SqlStorageValue>;

export class SessionStore {
  private readonly storage: DurableObjectStorage;

  constructor(storage: DurableObjectStorage) {
    this.storage = storage;
    storage.sql.exec(SCHEMA);
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  meta(): SessionMeta | null {
    const rows = this.sql.exec<Row>("SELECT * FROM session WHERE id = 1").toArray();
    const r = rows[0];
    if (!r) return null;
    return {
      sessionId: r.session_id as string,
      owner: r.owner as string,
      model: r.model as string,
      created: r.created as number,
      dart: JSON.parse(r.dart as string) as DartSettings,
      state: stateInfo(this.sql),
      masks: JSON.parse(r.masks as string) as LayerMaskSummary[],
      stats: r.stats ? (JSON.parse(r.stats as string) as PrunerStats) : null,
      turns: r.turns as number,
      usage: { promptTokens: r.prompt_tokens as number, completionTokens: r.completion_tokens as number, cachedTokens: r.cached_tokens as number },
    };
  }

  create(sessionId: string, owner: string, model: string, dart: DartSettings): void {
    this.sql.exec(
      "INSERT INTO session (id, session_id, owner, model, created, dart) VALUES (1, ?, ?, ?, ?, ?)",
      sessionId,
      owner,
      model,
      Math.floor(Date.now() / 1000),
      JSON.stringify(dart),
    );
  }

  messages(): StoredMessage[] {
    return this.sql
      .exec<Row>("SELECT seq, turn, role, content, ids, in_context FROM messages ORDER BY seq")
      .toArray()
      .map((r) => ({
        seq: r.seq as number,
        turn: r.turn as number,
        role: r.role as string,
        content: r.content as string,
        ids: JSON.parse(r.ids as string) as number[],
        inContext: r.in_context === 1,
      }));
  }

  /**
   * The stored pruner state's bytes (null: none). Sessions stored before the chunked
   * store kept it as base64 in session.pruner_state; that copy is read until the next turn
   * replaces it.
   */
  prunerState(): Uint8Array | null {
    const chunked = readState(this.sql);
    if (chunked) return chunked;
    const legacy = this.sql.exec<{ pruner_state: string }>("SELECT pruner_state FROM session WHERE id = 1").toArray()[0]?.pruner_state;
    return legacy ? fromBase64(legacy) : null;
  }

  transfer(): TransferView {
    return transferView(this.sql);
  }

  events(): (DriftEvent & { turn: number })[] {
    return this.sql
      .exec<Row>("SELECT turn, event FROM events ORDER BY seq")
      .toArray()
      .map((r) => ({ turn: r.turn as number, ...(JSON.parse(r.event as string) as DriftEvent) }));
  }

  /**
   * Persists a completed turn atomically: messages, events, pruner state and totals commit
   * together or not at all. A value storage cannot take (state_blob.ts chunks the state;
   * a message is one row) throws an ApiError and leaves everything stored as it was.
   */
  recordTurn(t: TurnRecord): void {
    for (const m of t.messages) checkMessageFits(m.role, m.content, m.ids);
    try {
      this.storage.transactionSync(() => this.writeTurn(t));
    } catch (e) {
      throw storageLimitError(e) ?? e;
    }
  }

  private writeTurn(t: TurnRecord): void {
    const turn = (this.meta()?.turns ?? 0) + 1;
    writeState(this.sql, t.prunerState.bytes, t.prunerState.version);
    if (t.transfer) recordTransfer(this.sql, turn, t.transfer);
    if (t.droppedMessages > 0) {
      this.sql.exec(
        "UPDATE messages SET in_context = 0 WHERE seq IN (SELECT seq FROM messages WHERE in_context = 1 ORDER BY seq LIMIT ?)",
        t.droppedMessages,
      );
    }
    const now = Date.now();
    for (const m of t.messages) {
      this.sql.exec("INSERT INTO messages (turn, role, content, ids, created) VALUES (?, ?, ?, ?, ?)", turn, m.role, m.content, JSON.stringify(m.ids), now);
    }
    for (const e of t.events) this.sql.exec("INSERT INTO events (turn, event) VALUES (?, ?)", turn, JSON.stringify(e));
    if (t.idempotent) storeAnswer(this.sql, t.idempotent.claim, t.idempotent.answer);
    this.sql.exec(
      `UPDATE session SET turns = ?, pruner_state = '', masks = ?, stats = ?,
         prompt_tokens = prompt_tokens + ?, completion_tokens = completion_tokens + ?, cached_tokens = cached_tokens + ?
       WHERE id = 1`,
      turn,
      JSON.stringify(t.masks),
      JSON.stringify(t.stats),
      t.usage.promptTokens,
      t.usage.completionTokens,
      t.usage.cachedTokens,
    );
  }

  async deleteAll(): Promise<void> {
    await this.storage.deleteAll();
    this.sql.exec(SCHEMA); // deleteAll drops the tables too; this object may serve again
  }
}
