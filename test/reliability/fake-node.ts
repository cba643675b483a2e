// FAKE: a misbehaving inference node, for faults a real node cannot be made to produce
// (garbage bodies, a stall after the turn started, wrong event shapes, HTML errors).
// It is a small real HTTP server on loopback speaking the node protocol (POST /v1/turn ->
// NDJSON events) badly on purpose; in "proxy" mode it forwards to a real node unchanged,
// so the same session can go on once the fault is over.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type FakeMode =
  | "proxy" // forward to the real node
  | "hang" // accept, never answer
  | "reset" // destroy the connection without answering
  | "headers-then-stall" // 200 and NDJSON headers, then nothing
  | "garbage" // 200 NDJSON whose first line is not JSON
  | "wrong-shape" // 200, JSON lines that are not the protocol's events
  | "html-400" // a 4xx with an HTML body
  | "html-500" // a 5xx with an HTML body
  | "json-401" // the node's own OpenAI-style 401 (what a wrong NODE_TOKEN gets)
  | "garbage-after-start" // the real start event, then a line that is not JSON
  | "stall-after-start" // the real start and first tokens, then silence with the connection open
  | "truncate-after-start" // the real start and one token, then a clean end without "done"
  | "trickle"; // the real events, each delayed by trickleMs

export interface FakeNode {
  url: string;
  mode: FakeMode;
  trickleMs: number;
  /** Requests received (any mode). */
  requests: number;
  close(): Promise<void>;
}

export async function startFakeNode(realUrl: string): Promise<FakeNode> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const sleep = (ms: number) => new Promise<void>((r) => timers.add(setTimeout(r, ms)));
  const fake: FakeNode = { url: "", mode: "proxy", trickleMs: 0, requests: 0, close: async () => {} };

  async function upstream(req: IncomingMessage, body: Buffer): Promise<{ res: Response; lines: AsyncGenerator<string> }> {
    const res = await fetch(`${realUrl}${req.url}`, {
      method: req.method,
      headers: { "content-type": "application/json", ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) },
      body: req.method === "POST" ? body : undefined,
    });
    async function* lines() {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      let buf = "";
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            yield buf.slice(0, nl + 1);
            buf = buf.slice(nl + 1);
          }
        }
        if (buf) yield buf;
      } finally {
        await reader.cancel().catch(() => {});
      }
    }
    return { res, lines: lines() };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const isTurn = req.method === "POST" && req.url === "/v1/turn";
    const mode = isTurn ? fake.mode : "proxy";
    fake.requests++;
    const ndjson = () => res.writeHead(200, { "content-type": "application/x-ndjson" });
    switch (mode) {
      case "hang":
      case "headers-then-stall":
        if (mode === "headers-then-stall") {
          ndjson();
          res.flushHeaders();
        }
        return; // the socket stays open until the caller gives up (or close())
      case "reset":
        req.socket.destroy();
        return;
      case "garbage":
        ndjson();
        res.end("<html><body>502 Bad Gateway</body></html>\n");
        return;
      case "wrong-shape":
        ndjson();
        res.end('{"type":"start"}\n{"type":"text","text":"hello"}\n{"type":"done"}\n');
        return;
      case "json-401":
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "missing or wrong node token", type: "invalid_request_error", param: null, code: "invalid_node_token" } }));
        return;
      case "html-400":
      case "html-500":
        res.writeHead(mode === "html-400" ? 400 : 500, { "content-type": "text/html" });
        res.end("<html><body>upstream says no</body></html>");
        return;
    }
    const { res: up, lines } = await upstream(req, body);
    if (!up.ok || mode === "proxy") {
      res.writeHead(up.status, { "content-type": up.headers.get("content-type") ?? "application/json" });
      for await (const l of lines) res.write(l);
      res.end();
      return;
    }
    ndjson();
    let n = 0;
    for await (const l of lines) {
      if (res.destroyed) break;
      n++;
      if (mode === "trickle") {
        await sleep(fake.trickleMs);
        res.write(l);
        continue;
      }
      if (n === 1) {
        res.write(l); // the real start event
        if (mode === "garbage-after-start") return void res.end("{\"type\":\"text\",\"text\": oops\n");
        continue;
      }
      if (mode === "truncate-after-start") {
        res.write(l);
        return void res.end();
      }
      if (mode === "stall-after-start") {
        res.write(l); // one token, then silence with the connection open
        return; // leaving the loop cancels the upstream turn; the downstream socket stays open
      }
    }
    res.end();
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(599);
      res.destroy(e as Error);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const addr = server.address();
  fake.url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  fake.close = async () => {
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return fake;
}
