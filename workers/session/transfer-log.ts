// Bytes between the Session object and its nodes, per turn (state-transfer.ts counts them),
// written in the turn's transaction; GET /v1/sessions/:id shows the last turn and the totals.
import type { TurnTransfer } from "./state-transfer.ts";

export const TRANSFER_SCHEMA = `
CREATE TABLE IF NOT EXISTS turn_transfer (
  turn INTEGER PRIMARY KEY, sent_bytes INTEGER NOT NULL, received_bytes INTEGER NOT NULL, state_sent INTEGER NOT NULL
);`;

export function recordTransfer(sql: SqlStorage, turn: number, t: TurnTransfer): void {
  sql.exec("INSERT OR REPLACE INTO turn_transfer (turn, sent_bytes, received_bytes, state_sent) VALUES (?, ?, ?, ?)", turn, t.sentBytes, t.receivedBytes, t.stateSent ? 1 : 0);
}

export interface TransferView {
  turns: { turn: number; sent_bytes: number; received_bytes: number; state_sent: boolean }[];
  sent_bytes: number;
  received_bytes: number;
}

export function transferView(sql: SqlStorage): TransferView {
  const turns = sql
    .exec<{ turn: number; sent_bytes: number; received_bytes: number; state_sent: number }>("SELECT turn, sent_bytes, received_bytes, state_sent FROM turn_transfer ORDER BY turn")
    .toArray()
    .map((r) => ({ turn: r.turn, sent_bytes: r.sent_bytes, received_bytes: r.received_bytes, state_sent: r.state_sent === 1 }));
  return { turns, sent_bytes: turns.reduce((n, t) => n + t.sent_bytes, 0), received_bytes: turns.reduce((n, t) => n + t.received_bytes, 0) };
}
