// Server-sent events for OpenAI streams: `data: <json>` per chunk, `data: [DONE]` at the end.
// Pull-based, so a client that stops reading (or disconnects) cancels the source.

const encoder = new TextEncoder();

export const sseData = (payload: unknown) => encoder.encode(`data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`);

/** The Responses API's form: each event named by its payload's `type`. */
const sseNamed = (payload: unknown) => encoder.encode(`event: ${(payload as { type: string }).type}\ndata: ${JSON.stringify(payload)}\n\n`);

/** A stream of SSE events; `next` returns the next payloads (null ends the stream), `cancel` runs if the client goes away. */
export function sseStream(next: () => Promise<unknown[] | null>, cancel: () => Promise<void>, opts: { named?: boolean } = {}): ReadableStream<Uint8Array> {
  const encode = opts.named ? sseNamed : sseData;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const batch = await next();
      if (batch === null) {
        controller.close();
        return;
      }
      for (const p of batch) controller.enqueue(encode(p));
    },
    cancel,
  });
}

export const SSE_HEADERS = { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" };
