// Newline-delimited JSON over web streams (platform-free: Node 22 and workerd both have them).

const encoder = new TextEncoder();

export function ndjsonLine(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value) + "\n");
}

/**
 * Reads one JSON value per line. `cancel()` may be called while a `next()` is pending
 * (the consumer went away): the pending read then ends and the upstream connection closes.
 */
export class NdjsonReader<T> {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  private buf = "";
  private ended = false;

  constructor(body: ReadableStream<Uint8Array>) {
    this.reader = body.getReader();
  }

  /** The next value, or null at the end of the stream. A malformed line throws. */
  async next(): Promise<T | null> {
    for (;;) {
      const nl = this.buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.buf.slice(0, nl).trim();
        this.buf = this.buf.slice(nl + 1);
        if (line) return JSON.parse(line) as T;
        continue;
      }
      if (this.ended) {
        const rest = this.buf.trim();
        this.buf = "";
        return rest ? (JSON.parse(rest) as T) : null;
      }
      const { done, value } = await this.reader.read();
      if (done) {
        this.ended = true;
        this.buf += this.decoder.decode();
      } else {
        this.buf += this.decoder.decode(value, { stream: true });
      }
    }
  }

  async cancel(): Promise<void> {
    this.ended = true;
    this.buf = "";
    await this.reader.cancel().catch(() => {});
  }
}
