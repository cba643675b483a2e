// Bytes between the Session object and its nodes, per turn (state-transfer.ts counts them),
// written in the turn's transaction; GET /v1/sessions/:id shows the last turn and the totals.
// Bytes the nodes of a split turn pushed to each other are kept apart (turn_node_transfer):
// they never cross the Session object, but they are the turn's cost too.
import type { TurnTransfer } from "./state-transfer.ts";

export const TRANSFER_SCHEMA = `
CREATE TABLE IF NOT EXISTS turn_transfer (
  turn INTEGER PRIMARY KEY, sent_bytes INTEGER NOT NULL, received_bytes INTEGER NOT NULL, state_sent INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS turn_node_transfer (turn INTEGER PRIMARY KEY, node_to_node_bytes INTEGER NOT NULL);`;

export function recordTransfer(sql: SqlStorage, turn: number, t: TurnTransfer): void {
  sql.exec("INSERT OR REPLACE INTO turn_transfer (turn, sent_bytes, received_bytes, state_sent) VALUES (?, ?, ?, ?)", turn, t.sentBytes, t.receivedBytes, t.stateSent ? 1 : 0);
  if (t.nodeToNodeBytes) sql.exec("INSERT OR REPLACE INTO turn_node_transfer (turn, node_to_node_bytes) VALUES (?, ?)", turn, t.nodeToNodeBytes);
}

export interface TransferView {
  turns: { turn: number; sent_bytes: number; received_bytes: number; state_sent: boolean; node_to_node_bytes: number }[];
  sent_bytes: number;
  received_bytes: number;
  node_to_node_bytes: number;
}

export function transferView(sql: SqlStorage): TransferView {
  const turns = sql
    .exec<{ turn: number; sent_bytes: number; received_bytes: number; state_sent: number; node_to_node_bytes: number | null }>(
      `SELECT t.turn, t.sent_bytes, t.received_bytes, t.state_sent, n.node_to_node_bytes
         FROM turn_transfer t LEFT JOIN turn_node_transfer n ON n.turn = t.turn ORDER BY t.turn`,
    )
    .toArray()
    .map((r) => ({ turn: r.turn, sent_bytes: r.sent_bytes, received_bytes: r.received_bytes, state_sent: r.state_sent === 1, node_to_node_bytes: r.node_to_node_bytes ?? 0 }));
  const sum = (k: "sent_bytes" | "received_bytes" | "node_to_node_bytes") => turns.reduce((n, t) => n + t[k], 0);
  return { turns, sent_bytes: sum("sent_bytes"), received_bytes: sum("received_bytes"), node_to_node_bytes: sum("node_to_node_bytes") };
}
