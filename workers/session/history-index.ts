// The Session object's side of automatic continuation: check that a request continues exactly
// the stored history, and keep the key's SessionIndex pointing at this session's latest history.
import { historyHashes, type HistoryMessage } from "../../shared/serving/history-hash.ts";
import type { Env } from "../env.ts";
import { sessionIndexStub } from "../session-index/index-stub.ts";

/** True when `request`'s first `n` messages are exactly the stored ones (role and content). */
export function continuesHistory(stored: HistoryMessage[], request: HistoryMessage[], n: number): boolean {
  return stored.length === n && n <= request.length && stored.every((m, i) => m.role === request[i]!.role && m.content === request[i]!.content);
}

/** Points the index at this session's whole stored history (awaited before the turn's answer ends). */
export async function indexHistory(env: Env, owner: string, sessionId: string, stored: HistoryMessage[]): Promise<void> {
  if (stored.length === 0) return;
  const hashes = await historyHashes(stored);
  await sessionIndexStub(env, owner).record(sessionId, hashes.at(-1)!, stored.length);
}

export async function unindexSession(env: Env, owner: string, sessionId: string): Promise<void> {
  await sessionIndexStub(env, owner).forget(sessionId);
}

/** New messages with the Responses API's instructions before them, unless the latest stored system message says the same. */
export function withInstructions(fresh: HistoryMessage[], instructions: string | undefined, stored: HistoryMessage[]): HistoryMessage[] {
  if (instructions === undefined) return fresh;
  const lastSystem = [...stored, ...fresh].filter((m) => m.role === "system" || m.role === "developer").at(-1);
  return lastSystem?.content === instructions ? fresh : [{ role: "system", content: instructions }, ...fresh];
}
