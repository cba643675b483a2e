// GET /metrics on the real stack: the gateway's counters (summed over 3 MetricsObject shards)
// and a node's move by exactly what known requests did; the endpoints refuse scrapers without a bearer.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { histogram, parsePrometheus, type Scrape } from "../helpers/prometheus.ts";
import { KEY_A, MODEL, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, vars: { METRICS_SHARDS: "3" } });
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

async function scrape(url: string, token: string): Promise<Scrape> {
  const r = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(r.status).toBe(200);
  expect(r.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheus(await r.text());
}

const delta = (a: Scrape, b: Scrape, series: string) => b.get(series) - a.get(series);

/** Reads the SSE stream of a chat completion: the text, and the usage chunk. */
async function streamChat(body: object): Promise<{ text: string; usage: Record<string, number>; sessionId: string }> {
  const r = await f.api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }) });
  expect(r.status).toBe(200);
  const raw = await r.text();
  let text = "";
  let usage: Record<string, number> = {};
  for (const line of raw.split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const c = JSON.parse(line.slice(6));
    if (c.usage) usage = c.usage;
    text += c.choices?.[0]?.delta?.content ?? "";
  }
  return { text, usage, sessionId: r.headers.get("x-session-id")! };
}

describe("GET /metrics", () => {
  it("needs a bearer: an API key or the metrics token", async () => {
    const url = f.stack.url;
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: "Bearer nope" } })).status).toBe(401);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${KEY_A}` } })).status).toBe(200);
    expect((await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).status).toBe(200);
    const node = f.stack.nodes[0]!.url;
    expect((await fetch(`${node}/metrics`)).status).toBe(401);
    expect((await fetch(`${node}/metrics`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).status).toBe(200);
  });

  it("counters move by what known requests did", async () => {
    const token = f.stack.metricsToken;
    const nodeUrl = f.stack.nodes[0]!.url;
    const g0 = await scrape(f.stack.url, token);
    const n0 = await scrape(nodeUrl, token);
    const t0 = performance.now();

    // Turn 1 (not streamed) starts a session; turn 2 (streamed) continues it: a KV cache hit.
    const r1 = await f.api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 24, seed: 3 }) });
    expect(r1.status).toBe(200);
    const c1 = (await r1.json()) as { session_id: string; usage: Record<string, number> };
    const c2 = await streamChat({ model: MODEL, session_id: c1.session_id, messages: [{ role: "user", content: "The next day, the dog" }], max_tokens: 40, seed: 3 });
    expect(c2.text.length).toBeGreaterThan(0);
    expect(c2.usage.tokens_cached).toBeGreaterThan(0);
    const elapsed = (performance.now() - t0) / 1000;
    // Failures are counted by status: an unknown model (404) and a wrong key (401).
    expect((await f.api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: "nope", messages: [{ role: "user", content: "x" }] }) })).status).toBe(404);
    expect((await f.api("/v1/models", {}, "sk-wrong")).status).toBe(401);
    const sess = await f.api(`/v1/sessions/${c1.session_id}`);
    expect(sess.status).toBe(200);
    const view = (await sess.json()) as { dart: { masks: { kept: number; total: number }[]; stats: { remasks: number } } };

    // Samples reach the metrics objects after the responses (waitUntil): poll briefly.
    const chat200 = 'dart_gateway_requests_total{method="POST",route="/v1/chat/completions",status="200"}';
    let g1 = await scrape(f.stack.url, token);
    for (let i = 0; i < 50 && (delta(g0, g1, chat200) < 2 || delta(g0, g1, 'dart_gateway_requests_total{method="GET",route="/v1/sessions/:id",status="200"}') < 1); i++) {
      await new Promise((r) => setTimeout(r, 200));
      g1 = await scrape(f.stack.url, token);
    }
    expect(delta(g0, g1, chat200)).toBe(2);
    expect(delta(g0, g1, 'dart_gateway_requests_total{method="POST",route="/v1/chat/completions",status="404"}')).toBe(1);
    expect(delta(g0, g1, 'dart_gateway_requests_total{method="GET",route="/v1/models",status="401"}')).toBe(1);
    expect(delta(g0, g1, 'dart_gateway_requests_total{method="GET",route="/v1/sessions/:id",status="200"}')).toBe(1);
    const route = 'route="/v1/chat/completions"';
    expect(delta(g0, g1, `dart_gateway_prompt_tokens_total{${route}}`)).toBe(c1.usage.prompt_tokens! + c2.usage.prompt_tokens!);
    expect(delta(g0, g1, `dart_gateway_completion_tokens_total{${route}}`)).toBe(c1.usage.completion_tokens! + c2.usage.completion_tokens!);

    const h0 = histogram(g0, "dart_gateway_time_to_first_token_seconds", { route: "/v1/chat/completions" });
    const h1 = histogram(g1, "dart_gateway_time_to_first_token_seconds", { route: "/v1/chat/completions" });
    expect(h1.count - h0.count).toBe(2);
    expect(h1.buckets.at(-1)!.le).toBe(Infinity);
    expect(h1.buckets.at(-1)!.count).toBe(h1.count);
    for (let i = 1; i < h1.buckets.length; i++) expect(h1.buckets[i]!.count).toBeGreaterThanOrEqual(h1.buckets[i - 1]!.count);
    expect(h1.sum - h0.sum).toBeGreaterThan(0);
    expect(h1.sum - h0.sum).toBeLessThanOrEqual(elapsed);

    const n1 = await scrape(nodeUrl, token);
    const completion = c1.usage.completion_tokens! + c2.usage.completion_tokens!;
    expect(delta(n0, n1, "dart_node_generated_tokens_total")).toBe(completion);
    expect(n1.sum("dart_node_turns_total") - n0.sum("dart_node_turns_total")).toBe(2);
    expect(delta(n0, n1, 'dart_node_kv_cache_lookups_total{result="hit"}')).toBe(1);
    expect(delta(n0, n1, 'dart_node_kv_cache_lookups_total{result="miss"}')).toBe(1);
    expect(delta(n0, n1, "dart_node_kv_cached_tokens_total")).toBe(c2.usage.tokens_cached);
    expect(view.dart.stats.remasks).toBeGreaterThan(0); // (seeded: the drift detector fires in these turns)
    expect(delta(n0, n1, 'dart_node_remask_events_total{method="dart"}')).toBe(view.dart.stats.remasks);
    const kept = view.dart.masks.reduce((a, m) => a + m.kept, 0);
    const total = view.dart.masks.reduce((a, m) => a + m.total, 0);
    expect(n1.get('dart_node_ffn_sparsity{method="dart"}')).toBeCloseTo(1 - kept / total, 9);
    expect(n1.get("dart_node_decode_tokens_per_second")).toBeGreaterThan(0);
    expect(delta(n0, n1, "dart_node_decode_seconds_total")).toBeGreaterThan(0);
    // The node loaded from the weight store (npm start's default): its counters are the store's.
    // Everything it fetched came at load (every FFN shard once); with the default unlimited
    // budget each turn finds every shard it may need (all: dart traces) resident.
    const stats = (await (await fetch(`${nodeUrl}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as { weights: { ffnBytes: number; ffnShards: number; store: { bytesFetched: number } } };
    expect(n1.get(`dart_node_info{node="node-1",weight_source="store"}`)).toBe(1);
    expect(n1.get("dart_node_weight_bytes_fetched_total")).toBe(stats.weights.ffnBytes);
    expect(stats.weights.store.bytesFetched).toBe(stats.weights.ffnBytes);
    expect(delta(n0, n1, "dart_node_weight_bytes_fetched_total")).toBe(0);
    expect(delta(n0, n1, 'dart_node_shard_cache_lookups_total{result="miss"}')).toBe(0);
    expect(delta(n0, n1, 'dart_node_shard_cache_lookups_total{result="hit"}')).toBe(2 * stats.weights.ffnShards);
  });
});
