// Limits on the real stack (workerd through wrangler dev, a real node), deterministic by
// construction rather than by timing:
// - RATE_LIMIT_PER_MINUTE=2: a key's third request in a row is refused 429 rate_limit_exceeded
//   with Retry-After (the bucket refills one request per 30 s; the three go back to back),
//   while another key is still served.
// - A node with --max-queue 1: one turn running and one waiting (seen in the node's /stats), the
//   next turn is answered 429 nodes_busy with Retry-After, never 503: the node is healthy.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { KEY_A, KEY_B, MODEL, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

const KEY_C = "sk-test-c-" + Math.random().toString(36).slice(2);
const KEY_D = "sk-test-d-" + Math.random().toString(36).slice(2);
const PER_MINUTE = 2;

let f: Fixture;
beforeAll(async () => {
  // 20 ms per generated token: a 400-token turn holds the node for seconds.
  f = await startFixture({ apiKeys: [KEY_A, KEY_B, KEY_C, KEY_D], nodes: 1, nodeWeights: "file", tokenDelayMs: 20, nodeArgs: ["--max-queue", "1"], rateLimitPerMinute: PER_MINUTE });
}, 300_000);
afterAll(async () => {
  await disposeFixtures();
});

const nodeQueue = async () =>
  ((await (await fetch(`${f.stack.nodes[0]!.url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as { queue: { running: number; waiting: number } }).queue;

describe("rate limit", () => {
  it(`refuses a key's request beyond ${PER_MINUTE} a minute with 429 and Retry-After, and serves another key`, async () => {
    const client = f.client(KEY_D);
    for (let i = 0; i < PER_MINUTE; i++) expect((await client.models.list()).data[0]!.id).toBe(MODEL);
    const err = await client.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    const e = err as InstanceType<typeof OpenAI.RateLimitError>;
    expect(e.code).toBe("rate_limit_exceeded");
    const retry = Number(e.headers?.get("retry-after"));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60 / PER_MINUTE);
    // Another key has its own bucket.
    expect((await f.client(KEY_C).models.list()).data[0]!.id).toBe(MODEL);
  });
});

describe("busy nodes", () => {
  it("answers 429 nodes_busy with Retry-After (not 503) when the node's queue is full", async () => {
    const long = { model: MODEL, messages: [{ role: "user" as const, content: "Once upon a time" }], max_tokens: 400, temperature: 1, stream: true as const };
    const ctl = new AbortController();
    const running = await f.client(KEY_A).chat.completions.create(long, { signal: ctl.signal });
    const it1 = running[Symbol.asyncIterator]();
    await it1.next(); // the turn started on the node
    const waiting = f.client(KEY_B).chat.completions.create({ ...long, max_tokens: 2, stream: false }).catch((e: unknown) => e);
    let q = await nodeQueue();
    for (let t = 0; t < 100 && q.waiting < 1; t++) {
      await new Promise((r) => setTimeout(r, 50));
      q = await nodeQueue();
    }
    expect(q).toMatchObject({ running: 1, waiting: 1 });
    const refused = await f.client(KEY_C).chat.completions.create({ ...long, max_tokens: 2, stream: false }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.RateLimitError);
    const r = refused as InstanceType<typeof OpenAI.RateLimitError>;
    expect(r.status).toBe(429);
    expect(r.code).toBe("nodes_busy");
    expect(Number(r.headers?.get("retry-after"))).toBeGreaterThanOrEqual(1);
    ctl.abort();
    // The waiting turn runs once the first is gone.
    const served = await waiting;
    expect((served as OpenAI.ChatCompletion).choices?.[0]?.message.content, String(served)).toBeDefined();
  });
});
