// Bad input: a generated corpus (corpus.ts) of malformed requests sent as raw bytes over TCP to
// the real stack (wrangler dev + 1 node). Every one must get its 4xx with an OpenAI-style error
// object, quickly; nothing may crash or hang, and no answer may carry another session's data.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_A, KEY_B, MODEL, startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";
import { buildCorpus, type Case } from "./corpus.ts";
import { sessionView, type SessionView } from "./harness.ts";
import { encodeRequest, rawExchange, type RawResponse } from "./raw-http.ts";

const MAX_BODY = 64 * 1024; // MAX_BODY_BYTES of this stack: huge bodies stay cheap to send
const CONCURRENCY = 6;
const SECRET = `SECRET-${randomBytes(8).toString("hex")}`;

let f: Fixture;
let sessionA = "";
let before: SessionView;
beforeAll(async () => {
  // The corpus sends hundreds of wrong keys on purpose: lift the failed-authentication limit.
  f = await startFixture({ nodes: 1, maxBodyBytes: MAX_BODY, vars: { AUTH_FAILURES_PER_MINUTE: "100000" } });
  const r = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: `Once upon a time ${SECRET}` }], max_tokens: 4 });
  sessionA = (r as unknown as { session_id: string }).session_id;
  before = await sessionView(f, sessionA);
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

interface Outcome {
  c: Case;
  res?: RawResponse;
  problem?: string;
}

function noLeak(res: RawResponse, ours = true): string | null {
  const text = res.body.toString("latin1");
  for (const leak of [SECRET, KEY_A, KEY_B]) if (text.includes(leak)) return `the answer contains ${leak.slice(0, 12)}...`;
  if (ours && /\n\s+at .+:\d+:\d+/.test(text)) return "the answer contains a stack trace";
  return null;
}

function check(c: Case, res: RawResponse): string | null {
  if (!c.status.includes(res.status)) return `status ${res.status}, expected ${c.status.join("/")}: ${res.body.toString("utf8").slice(0, 200)}`;
  if (c.httpLayer) return noLeak(res, false); // workerd's own plain-text refusal (see corpus.ts)
  if (!/application\/json/.test(res.headers["content-type"] ?? "")) return `content-type ${res.headers["content-type"]}: ${res.body.toString("utf8").slice(0, 120)}`;
  let body: { error?: Record<string, unknown> };
  try {
    body = JSON.parse(res.body.toString("utf8"));
  } catch {
    return `body is not JSON: ${res.body.toString("utf8").slice(0, 120)}`;
  }
  const e = body.error;
  if (!e || Object.keys(e).sort().join() !== "code,message,param,type") return `not an OpenAI error object: ${JSON.stringify(body).slice(0, 200)}`;
  if (typeof e.message !== "string" || !e.message || typeof e.type !== "string") return `bad message/type: ${JSON.stringify(e)}`;
  if (!(e.param === null || typeof e.param === "string") || !(e.code === null || typeof e.code === "string")) return `bad param/code: ${JSON.stringify(e)}`;
  if (c.code !== undefined && e.code !== c.code) return `code ${e.code}, expected ${c.code}: ${e.message}`;
  if (c.param !== undefined && e.param !== c.param) return `param ${e.param}, expected ${c.param}: ${e.message}`;
  return noLeak(res);
}

describe("bad input corpus", () => {
  it("every malformed request gets the right 4xx with an OpenAI-style error object, fast, without leaking", async () => {
    const cases = buildCorpus({ model: MODEL, keyA: KEY_A, keyB: KEY_B, sessionA, maxBody: MAX_BODY });
    expect(cases.length).toBeGreaterThanOrEqual(200);
    const { port, host } = new URL(f.stack.url);
    const outcomes: Outcome[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < cases.length) {
          const c = cases[next++]!;
          const bytes = Buffer.isBuffer(c.req) ? c.req : encodeRequest(host, c.req);
          try {
            const res = await rawExchange(Number(port), bytes);
            outcomes.push({ c, res, problem: check(c, res) ?? undefined });
          } catch (e) {
            outcomes.push({ c, problem: (e as Error).message });
          }
        }
      }),
    );
    const wallMs = performance.now() - t0;

    const byCategory = new Map<string, { n: number; statuses: Set<number>; failed: number; maxMs: number }>();
    for (const o of outcomes) {
      const s = byCategory.get(o.c.category) ?? { n: 0, statuses: new Set(), failed: 0, maxMs: 0 };
      s.n++;
      if (o.res) s.statuses.add(o.res.status);
      if (o.problem) s.failed++;
      s.maxMs = Math.max(s.maxMs, o.res?.ms ?? 0);
      byCategory.set(o.c.category, s);
    }
    const lines = [...byCategory].map(([cat, s]) => `  ${cat.padEnd(24)} ${String(s.n).padStart(4)} requests  statuses ${[...s.statuses].sort().join(",").padEnd(12)} failed ${s.failed}  slowest ${Math.round(s.maxMs)} ms`);
    console.log(`[reliability] bad input: ${outcomes.length} requests in ${(wallMs / 1000).toFixed(1)} s\n${lines.join("\n")}`);
    const failures = outcomes.filter((o) => o.problem).map((o) => `[${o.c.category}] ${o.c.name}: ${o.problem}`);
    expect(failures).toEqual([]);
    expect(outcomes).toHaveLength(cases.length);
  }, 240_000);

  it("clients that never finish their headers or their body do not stop others from being served", async () => {
    const { port } = new URL(f.stack.url);
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 16; i++) {
        const s = connect(Number(port), "127.0.0.1");
        s.on("error", () => {});
        // Half of them stop in the middle of the headers, half promise a 100 GB body and send 2 bytes.
        s.write(i % 2 ? `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ` : `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY_A}\r\nContent-Length: 100000000000\r\n\r\n{}`);
        sockets.push(s);
      }
      await new Promise((r) => setTimeout(r, 500));
      const t0 = Date.now();
      const r = await f.client(KEY_B).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 2 });
      expect(r.usage!.completion_tokens).toBeGreaterThan(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      for (const s of sockets) s.destroy();
    }
  });

  it("afterwards the stack still serves both keys and key A's session is unchanged", async () => {
    expect((await fetch(`${f.stack.url}/healthz`)).status).toBe(200);
    for (const n of f.stack.nodes) expect((await fetch(`${n.url}/healthz`)).status).toBe(200);
    expect(await sessionView(f, sessionA)).toEqual(before);
    for (const key of [KEY_A, KEY_B]) {
      const r = await f.client(key).chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "The end" }], max_tokens: 2 });
      expect(r.usage!.completion_tokens).toBeGreaterThan(0);
      expect(JSON.stringify(r)).not.toContain(SECRET);
    }
  });
});
