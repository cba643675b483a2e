// Split serving across several nodes, end to end (wrangler dev, two full nodes whose traces are
// slowed to TRACE_DELAY_MS, two sparse nodes; real processes, real stories260K): sparse nodes
// report their resident neurons, a split turn decodes where its masks' neurons already are
// (against the rendezvous choice: test/serving/split-routing.test.ts),
// traces wait in a node's fair queue like turns, and a full node killed mid-trace makes the
// turn trace again on the other one.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { MODEL, startFixture, type Fixture } from "./stack-fixture.ts";

const TRACE_DELAY_MS = 1500;
let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 2, sparseNodes: 2, traceDelayMs: TRACE_DELAY_MS });
}, 300_000);
afterAll(async () => {
  await f?.dispose();
});

type Event = { turn: number; kind: string; remask: boolean; bytesFetched?: number; tracedBy?: string; decodedBy?: string; routedBy?: string; traceRetried?: string };
const events = async (id: string) => ((await (await f.api(`/v1/sessions/${id}`)).json()) as { dart: { events: Event[] } }).dart.events;
/** The bearer the Session objects send to nodes (the stack's 0600 secrets file). */
const nodeToken = () => /^NODE_TOKEN='([^']*)'$/m.exec(readFileSync(join(f.persistDir, ".dev.vars"), "utf8"))![1]!;
const dart = { method: "dart", sparsity: 0.5 };

async function chat(content: string, sessionId?: string) {
  const r = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 16, temperature: 0, dart, ...(sessionId ? { session_id: sessionId } : {}) } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
  return (r as unknown as { session_id: string }).session_id;
}

async function queueOf(url: string): Promise<{ running: number; waiting: number }> {
  const r = await fetch(`${url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } });
  return ((await r.json()) as { queue: { running: number; waiting: number } }).queue;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("sparse node residency", () => {
  it("is a bitset of the model's neurons behind the node token, revalidated by ETag with the load in a header", async () => {
    const sparse = f.stack.nodes.find((n) => n.role === "sparse")!;
    const full = f.stack.nodes.find((n) => n.role === "full")!;
    const auth = { authorization: `Bearer ${nodeToken()}` };
    expect((await fetch(`${sparse.url}/v1/residency`)).status).toBe(401);
    const r = await fetch(`${sparse.url}/v1/residency`, { headers: auth });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { node: string; nLayers: number; hiddenDim: number; bits: string };
    expect(body).toMatchObject({ node: sparse.name, nLayers: 5, hiddenDim: 172 });
    expect(Buffer.from(body.bits, "base64").length).toBe(Math.ceil((5 * 172) / 8));
    const etag = r.headers.get("etag")!;
    expect(etag).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers.get("x-dart-load")).toBe("0");
    const again = await fetch(`${sparse.url}/v1/residency`, { headers: { ...auth, "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("x-dart-load")).toBe("0");
    const fromFull = await fetch(`${full.url}/v1/residency`, { headers: auth });
    expect(fromFull.status).toBe(409);
    expect(((await fromFull.json()) as { error: { code: string } }).error.code).toBe("not_a_sparse_node");
  });
});

describe("traces wait in the node's fair queue", () => {
  it("serves a polite tenant's trace ahead of a greedy tenant's second one, and refuses none while the queue has room", async () => {
    const full = f.stack.nodes.find((n) => n.role === "full")!;
    const token = nodeToken();
    const trace = async (tenant: string, i: number) => {
      const body = { sessionKey: await signSessionKey(`queue-${tenant}-${i}`, token), tenant, context: [], segments: [{ text: "Once upon a time" }], maxTokens: 8, dart: { ...DEFAULT_DART_SETTINGS, ...dart }, prunerState: "", kvFrom: null };
      const r = await fetch(`${full.url}/v1/trace`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      expect(r.status).toBe(200);
      finished.push(`${tenant}-${i}`);
    };
    const finished: string[] = [];
    const greedy1 = trace("greedy", 1);
    await until("the first trace to run", async () => (await queueOf(full.url)).running === 1);
    const greedy2 = trace("greedy", 2);
    await until("the greedy tenant's second trace to wait", async () => (await queueOf(full.url)).waiting === 1);
    const polite = trace("polite", 1);
    await until("the polite trace to wait", async () => (await queueOf(full.url)).waiting === 2);
    await Promise.all([greedy1, greedy2, polite]);
    expect(finished).toEqual(["greedy-1", "polite-1", "greedy-2"]);
  });
});

describe("routing by mask overlap", () => {
  it("routes a session's first turn by rendezvous hashing and its next ones by the masks in force, on the node that holds them", async () => {
    const sparseNames = f.stack.nodes.filter((n) => n.role === "sparse").map((n) => n.name);
    const id = await chat("Once upon a time there was a little cat who liked to play in the sun");
    await chat("The cat found a red ball in the garden", id);
    const built = (await events(id)).filter((e) => e.kind === "mask" && !e.remask && e.tracedBy);
    expect(built.map((e) => e.turn)).toEqual([1, 2]);
    expect(built[0]).toMatchObject({ routedBy: "rendezvous" });
    expect(sparseNames).toContain(built[0]!.decodedBy);
    // The Session object read both nodes' residency (GET /v1/residency from workerd): the node
    // that holds the first turn's masks, and the session's KV cache, takes the second.
    expect(built[1]).toMatchObject({ routedBy: "overlap", decodedBy: built[0]!.decodedBy });
  });
});

describe("a full node killed mid-trace", () => {
  it("makes the turn trace again on the other full node, and the session says which one failed", async () => {
    const id = await chat("Lily went to the park with her dog");
    const fulls = f.stack.nodes.filter((n) => n.role === "full");
    const reply = chat("We the people of the United States, in order to form a more perfect union", id);
    // The node tracing this turn is the one whose engine is taken (nothing else runs now).
    const victim = await until("a full node to start tracing", async () => {
      for (const n of fulls) if ((await queueOf(n.url)).running === 1) return n;
      return null;
    });
    process.kill(victim.pid, "SIGKILL");
    await reply;
    const survivor = fulls.find((n) => n !== victim)!;
    const traced = (await events(id)).filter((e) => e.turn === 2 && e.kind === "mask" && !e.remask && e.tracedBy);
    expect(traced).toHaveLength(1);
    expect(traced[0]!.tracedBy).toBe(survivor.name);
    expect(traced[0]!.traceRetried).toContain(victim.url);
    await expect(fetch(`${victim.url}/healthz`)).rejects.toThrow(); // really gone
  });
});
