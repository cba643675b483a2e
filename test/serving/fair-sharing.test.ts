// Fair sharing on the real stack (wrangler dev + one real node, slowed to 20 ms a token): a
// greedy key cannot hold more than MAX_CONCURRENT_TURNS_PER_KEY turns (the rest get 429 with
// Retry-After at once, never 503), and a polite key's single turn runs next, ahead of the
// greedy key's backlog in the node's queue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_A, KEY_B, MODEL, startFixture, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, nodeWeights: "file", tokenDelayMs: 20, vars: { MAX_CONCURRENT_TURNS_PER_KEY: "3" } });
}, 300_000);
afterAll(async () => {
  await f?.dispose();
});

const chat = (key: string, maxTokens: number) =>
  f.api("/v1/chat/completions", {
    method: "POST",
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: maxTokens, temperature: 0, dart: { method: "dense" } }),
  }, key);

async function nodeQueue(): Promise<{ running: number; waiting: number }> {
  const r = await fetch(`${f.stack.nodes[0]!.url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } });
  return ((await r.json()) as { queue: { running: number; waiting: number } }).queue;
}

describe("fair sharing between a greedy and a polite key", () => {
  it("caps the greedy key at once and serves the polite key's turn ahead of the greedy backlog", async () => {
    const finished: string[] = [];
    const greedy = Array.from({ length: 8 }, (_, i) =>
      chat(KEY_A, 100).then(async (r) => {
        if (r.status === 200) finished.push(`greedy-${i}`);
        return { status: r.status, retryAfter: r.headers.get("retry-after"), body: (await r.json()) as { error?: { code: string } } };
      }),
    );
    // Three greedy turns reach the node: one runs, two wait in its queue.
    for (let t = 0; ; t++) {
      const q = await nodeQueue();
      if (q.running === 1 && q.waiting === 2) break;
      if (t > 600) throw new Error(`the node queue never held the greedy backlog: ${JSON.stringify(q)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const polite = chat(KEY_B, 4).then((r) => {
      if (r.status === 200) finished.push("polite");
      return r.status;
    });
    const results = await Promise.all(greedy);
    expect(await polite).toBe(200);

    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    for (const r of results.filter((x) => x.status === 429)) {
      expect(Number(r.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(r.body.error!.code).toBe("too_many_concurrent_turns");
    }
    // The polite turn ran right after the greedy turn that was running: second of four.
    expect(finished.indexOf("polite")).toBe(1);
    expect(finished).toHaveLength(4);
  });
});
