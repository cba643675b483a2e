// Opens a turn on a Session object. A request that names a session goes to it. A chat request
// that names none first looks for the caller's own session whose stored history is a prefix of
// the request's messages (the per-key SessionIndex) and continues it, so stateless clients that
// resend the conversation keep their KV cache and DART state. If that session has moved on
// meanwhile (another branch of the conversation was sent, it is generating, or the request asks
// for other DART settings or model) a new session starts: a diverging history never branches.
import type { SessionTurnRequest } from "../shared/serving/protocol.ts";
import { historyHashes } from "../shared/serving/history-hash.ts";
import type { Env } from "../workers/env.ts";
import { sessionIndexStub } from "../workers/session-index/index-stub.ts";
import { newSessionId, sessionStub } from "./session-stub.ts";

export type TurnBase = Omit<SessionTurnRequest, "sessionId" | "create" | "continueAfter" | "replayOnly">;

/** Longer requests skip the lookup (hashing every prefix of a huge body is not worth it): a new session. */
export const MAX_LOOKUP_MESSAGES = 4096;

/** Answers of the candidate session that mean "start a new one instead". */
const FALL_BACK = new Set(["history_changed", "session_busy", "dart_settings_changed", "model_mismatch", "session_not_found", "idempotency_key_unknown"]);

function postTurn(env: Env, owner: string, turn: SessionTurnRequest): Promise<Response> {
  return sessionStub(env, owner, turn.sessionId).fetch("https://session/turn", {
    method: "POST",
    headers: { "content-type": "application/json", "x-owner": owner },
    body: JSON.stringify(turn),
  });
}

/** The caller's session whose whole stored history is the longest proper prefix of `messages` ending with an assistant reply. */
export async function findContinuation(env: Env, owner: string, messages: { role: string; content: string }[]) {
  const hashes = await historyHashes(messages.slice(0, -1));
  const candidates = hashes.filter((_, k) => messages[k]!.role === "assistant");
  if (candidates.length === 0) return null;
  return sessionIndexStub(env, owner).lookup(candidates);
}

async function fallsBack(res: Response): Promise<boolean> {
  if (res.status !== 409 && res.status !== 400 && res.status !== 404) return false;
  const body = (await res.clone().json().catch(() => null)) as { error?: { code?: string } } | null;
  return FALL_BACK.has(body?.error?.code ?? "");
}

export async function openSessionTurn(env: Env, owner: string, base: TurnBase, named: string | null): Promise<Response> {
  if (named !== null) return postTurn(env, owner, { ...base, sessionId: named, create: false });
  if (base.idempotency) {
    // A retry of a request that named no session: the session that took the first attempt answers it.
    const earlier = await sessionIndexStub(env, owner).sessionForKey(base.idempotency.key);
    if (earlier) {
      const res = await postTurn(env, owner, { ...base, sessionId: earlier, create: false, replayOnly: true });
      if (!(await fallsBack(res))) return res;
      await res.body?.cancel();
    }
  }
  if (base.messages && base.messages.length <= MAX_LOOKUP_MESSAGES) {
    const hit = await findContinuation(env, owner, base.messages);
    if (hit) {
      const res = await postTurn(env, owner, { ...base, sessionId: hit.sessionId, create: false, continueAfter: hit.messages });
      if (!(await fallsBack(res))) return res;
      await res.body?.cancel();
    }
  }
  return postTurn(env, owner, { ...base, sessionId: newSessionId(), create: true });
}
