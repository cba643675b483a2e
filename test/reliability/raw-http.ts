// Raw HTTP/1.1 over a TCP socket: requests exactly as written (invalid UTF-8, oversized or
// malformed headers, lying lengths), which fetch and node:http refuse to send. One request per
// connection (Connection: close); the response is read to the end of the connection.
import { connect } from "node:net";

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

export interface RawRequest {
  method: string;
  path: string;
  /** Header lines as raw bytes or strings (name: value), without the line ends. */
  headers: (string | Buffer)[];
  body?: Buffer | string;
  /** Sends the body with Transfer-Encoding: chunked instead of Content-Length. */
  chunked?: boolean;
  /** Content-Length is added unless a header line already sets it or the body is chunked. */
  noContentLength?: boolean;
}

export function encodeRequest(host: string, r: RawRequest): Buffer {
  const body = r.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(r.body) ? r.body : Buffer.from(r.body, "utf8");
  const lines: Buffer[] = [Buffer.from(`${r.method} ${r.path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n`, "latin1")];
  const hasLength = r.headers.some((h) => /^content-length:/i.test(h.toString("latin1")));
  for (const h of r.headers) lines.push(Buffer.isBuffer(h) ? h : Buffer.from(h, "utf8"), Buffer.from("\r\n"));
  if (r.chunked) lines.push(Buffer.from("Transfer-Encoding: chunked\r\n"));
  else if (!hasLength && !r.noContentLength && (body.length > 0 || r.method === "POST")) lines.push(Buffer.from(`Content-Length: ${body.length}\r\n`));
  lines.push(Buffer.from("\r\n"));
  if (r.chunked) {
    for (let i = 0; i < body.length; i += 64 * 1024) {
      const part = body.subarray(i, i + 64 * 1024);
      lines.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from("\r\n"));
    }
    lines.push(Buffer.from("0\r\n\r\n"));
  } else lines.push(body);
  return Buffer.concat(lines);
}

/** Sends `bytes` and reads the response; rejects on timeout (a hang) or when no response came at all. */
export function rawExchange(port: number, bytes: Buffer, timeoutMs = 15_000): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    const sock = connect(port, "127.0.0.1");
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      const data = Buffer.concat(chunks);
      const parsed = data.length ? parseResponse(data) : null;
      if (parsed) resolve({ ...parsed, ms: performance.now() - t0 });
      else reject(err ?? new Error(`connection closed without a response (${data.length} bytes)`));
    };
    const timer = setTimeout(() => finish(new Error(`no complete response within ${timeoutMs} ms (hang)`)), timeoutMs);
    sock.on("data", (d) => {
      chunks.push(d);
      // A complete response ends the exchange even if the server keeps reading (a huge body we are still sending).
      const p = parseResponse(Buffer.concat(chunks));
      if (p?.complete) finish();
    });
    sock.on("end", () => finish());
    sock.on("close", () => finish());
    sock.on("error", (e) => finish(e)); // e.g. EPIPE/ECONNRESET after the server answered early
    sock.write(bytes, () => {});
  });
}

function parseResponse(data: Buffer): (Omit<RawResponse, "ms"> & { complete: boolean }) | null {
  const end = data.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const head = data.subarray(0, end).toString("latin1").split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0] ?? "");
  if (!m) return null;
  const headers: Record<string, string> = {};
  for (const l of head.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let rest = data.subarray(end + 4);
  let complete = false;
  if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
    const out: Buffer[] = [];
    for (;;) {
      const nl = rest.indexOf("\r\n");
      if (nl < 0) break;
      const size = parseInt(rest.subarray(0, nl).toString("latin1"), 16);
      if (Number.isNaN(size)) break;
      if (size === 0) {
        complete = true;
        break;
      }
      if (rest.length < nl + 2 + size + 2) break;
      out.push(rest.subarray(nl + 2, nl + 2 + size));
      rest = rest.subarray(nl + 2 + size + 2);
    }
    return { status: Number(m[1]), headers, body: Buffer.concat(out), complete };
  }
  const len = headers["content-length"] !== undefined ? Number(headers["content-length"]) : null;
  if (len !== null && rest.length >= len) {
    complete = true;
    rest = rest.subarray(0, len);
  }
  return { status: Number(m[1]), headers, body: rest, complete };
}
