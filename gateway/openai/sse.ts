// Server-sent events for OpenAI streams: `data: <json>` per chunk, `data: [DONE]` at the end.
// Pull-based, so a client that stops reading (or disconnects) cancels the source.

const encoder = new TextEncoder();

export const sseData = (payload: unknown) => encoder.encode(`data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`);

/** A stream of SSE events; `next` returns the next payloads (null ends the stream), `cancel` runs if the client goes away. */
export function sseStream(next: () => Promise<unknown[] | null>, cancel: () => Promise<void>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const batch = await next();
      if (batch === null) {
        controller.close();
        return;
      }
      for (const p of batch) controller.enqueue(sseData(p));
    },
    cancel,
  });
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" };
