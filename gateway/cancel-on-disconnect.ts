// A non-streamed answer is only sent when the turn is done, so nothing is written that could
// notice a client who left meanwhile. The incoming request's signal (workerd's
// enable_request_signal flag, wrangler.toml) fires when the client disconnects. Cancelling the
// Session object's response body is not enough then: workerd does not pass that cancellation on
// to the object's stream (test/serving/nonstreamed-abort.test.ts showed the node finishing every
// token), so the gateway also tells the object to cancel the turn by its id (x-turn-id), which
// closes the node's stream and stops the node.
import type { Env } from "../workers/env.ts";
import { sessionStub } from "./session-stub.ts";

/**
 * Runs `cancel` when the client of `request` goes away, under `waitUntil` (the request itself is
 * over by then); returns the function that stops watching.
 */
export function cancelOnDisconnect(request: Request, cancel: () => Promise<void>, waitUntil: (p: Promise<unknown>) => void): () => void {
  const signal = request.signal as AbortSignal | undefined;
  if (!signal) return () => {};
  const onAbort = () => waitUntil(cancel().catch(() => {}));
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}

/** Cancels the Session object's turn behind `res` (a replayed answer has no turn id) and stops reading it. */
export function sessionTurnCanceller(env: Env, owner: string, sessionId: string, res: Response, reader: { cancel(): Promise<void> }): () => Promise<void> {
  const turnId = res.headers.get("x-turn-id");
  return async () => {
    const told = turnId
      ? sessionStub(env, owner, sessionId)
          .fetch("https://session/cancel", { method: "POST", headers: { "content-type": "application/json", "x-owner": owner }, body: JSON.stringify({ turnId }) })
          .then((r) => r.body?.cancel())
      : Promise.resolve();
    await Promise.all([told, reader.cancel()]);
  };
}
