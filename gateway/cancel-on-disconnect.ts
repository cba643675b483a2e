// A non-streamed answer is only sent when the turn is done, so nothing is written that could
// notice a client who left meanwhile. The incoming request's signal (workerd's
// enable_request_signal flag, wrangler.toml) fires when the client disconnects: cancelling the
// Session object's stream then stops the node, as closing a stream does.

/** Cancels `reader` when the client of `request` goes away; returns the function that stops watching. */
export function cancelOnDisconnect(request: Request, reader: { cancel(): Promise<void> }): () => void {
  const signal = request.signal as AbortSignal | undefined;
  if (!signal) return () => {};
  const onAbort = () => void reader.cancel();
  if (signal.aborted) onAbort();
  else signal.addEventListener("abort", onAbort, { once: true });
  return () => signal.removeEventListener("abort", onAbort);
}
