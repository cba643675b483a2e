// The split stack, end to end: wrangler dev (gateway, Session objects, local R2) with one
// full node that traces and one sparse node that holds only its masks' shards and decodes.
// Real processes, real stories260K, the official openai client.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { parsePrometheus } from "../helpers/prometheus.ts";
import { MODEL, startFixture, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, sparseNodes: 1 });
}, 240_000);
afterAll(async () => {
  await f?.dispose();
});

type Event = { turn: number; kind: string; remask: boolean; bytesFetched?: number; tracedBy?: string; decodedBy?: string; traceSkipped?: string };
type Transfer = { turns: { turn: number; sent_bytes: number; received_bytes: number; state_sent: boolean; node_to_node_bytes: number }[] };
const view = async (id: string) => (await (await f.api(`/v1/sessions/${id}`)).json()) as { dart: { events: Event[]; state: { bytes: number } }; transfer: Transfer };
const scrape = async (url: string) => parsePrometheus(await (await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).text());
const stats = async (url: string) => (await (await fetch(`${url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as { states: { hits: number; misses: number }; handoffs: { received: number; taken: number; missing: number } };
const dart = { method: "dart", sparsity: 0.5 };

async function chat(content: string, sessionId?: string) {
  const r = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 24, temperature: 0, dart, ...(sessionId ? { session_id: sessionId } : {}) } as OpenAI.ChatCompletionCreateParamsNonStreaming);
  expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
  return (r as unknown as { session_id: string }).session_id;
}

describe("one full node traces, one sparse node decodes", () => {
  it("each turn is traced on the full node and decoded on the sparse node, which fetches only mask shards", async () => {
    const [full, sparse] = f.stack.nodes;
    expect([full!.role, sparse!.role]).toEqual(["full", "sparse"]);
    const id = await chat("Once upon a time there was a little cat");
    await chat("The president said that the economy of the nation is strong", id);
    const v = await view(id);
    const events = v.dart.events;
    // Turn 2 sends no state: the trace names it by version and the full node holds it (the
    // sparse node pushed it there after turn 1). The traced state and KV went node to node;
    // the session reads the state once, in the done event.
    const [t1, t2] = v.transfer.turns;
    const b64 = (v.dart.state.bytes * 4) / 3;
    expect(t2!.state_sent).toBe(false);
    expect(t2!.sent_bytes).toBeLessThan(b64); // both requests together are smaller than the state alone
    expect(t2!.received_bytes).toBeGreaterThan(b64);
    expect(t2!.received_bytes).toBeLessThan(2 * b64 + (t1!.received_bytes - b64)); // once, not twice (turn 1's answer, minus its state, bounds the rest)
    const kvBytes = 2 * 5 * 64 * 4; // keys and values of one position, f32: the KV handoff carries at least the traced tokens
    expect(t2!.node_to_node_bytes).toBeGreaterThan(2 * b64 + kvBytes); // traced state + KV out, final state back
    const fullStats = await stats(full!.url);
    expect(fullStats.states).toMatchObject({ hits: 1, misses: 0 });
    expect((await stats(sparse!.url)).handoffs).toMatchObject({ received: 2, taken: 2, missing: 0 });
    // Masks built: one per turn from the trace, plus any drift re-mask the sparse node made from the prior's.
    const built = events.filter((e) => e.kind === "mask" && !e.remask);
    const traced = built.filter((e) => e.tracedBy);
    expect(traced.map((e) => e.turn)).toEqual([1, 2]);
    for (const e of traced) expect(e).toMatchObject({ tracedBy: full!.name, decodedBy: sparse!.name });
    // The first turn fetched its masks' shards (and the prior's); every byte is accounted for.
    expect(traced[0]!.bytesFetched).toBeGreaterThan(0);
    const s = await scrape(sparse!.url);
    const fullScrape = await scrape(full!.url);
    expect(s.get(`dart_node_info{node="${sparse!.name}",role="sparse",weight_source="store"}`)).toBe(1);
    expect(fullScrape.sum("dart_node_info", { role: "full" })).toBe(1);
    expect(fullScrape.get('dart_node_trace_requests_total{result="ok"}')).toBe(2);
    expect(s.sum("dart_node_turns_total")).toBe(2);
    expect(fullScrape.sum("dart_node_turns_total")).toBe(0);
    const ffn = s.get("dart_node_ffn_bytes");
    expect(ffn).toBe(5 * 172 * 3 * 64 * 4);
    expect(s.get("dart_node_resident_ffn_bytes")).toBeLessThan(ffn);
    expect(s.get("dart_node_weight_bytes_fetched_total")).toBe(built.reduce((n, e) => n + (e.bytesFetched ?? 0), 0));
    expect(fullScrape.get("dart_node_resident_ffn_bytes")).toBeGreaterThanOrEqual(ffn); // the dense FFN
    expect(s.get("dart_node_rss_bytes")).toBeGreaterThan(0);
  });

  it("a method that re-traces densely mid-turn (dart-paper) is decoded by the full node", async () => {
    const r = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 16, dart: { method: "dart-paper" } } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect((await scrape(f.stack.nodes[0]!.url)).get('dart_node_turns_total{method="dart-paper",stop_reason="length"}')).toBe(1);
  });

  it("after every node restarts (soft caches empty), the trace gets the state resent and the conversation continues", async () => {
    const id = await chat("Once upon a time there was a little cat");
    await chat("The president said that the economy of the nation is strong", id);
    const before = await view(id);
    await f.restart(); // new node processes, the Session objects' storage kept
    await chat("Lily went to the park with her dog", id);
    await chat("We the people of the United States", id);
    const v = await view(id);
    const [t3, t4] = v.transfer.turns.slice(2);
    expect(t3!.state_sent).toBe(true); // 409 state_not_cached, then the state itself
    expect(t3!.sent_bytes).toBeGreaterThan((before.dart.state.bytes * 4) / 3);
    expect(t4!.state_sent).toBe(false); // the sparse node pushed turn 3's state to the full node
    expect((await stats(f.stack.nodes[0]!.url)).states).toMatchObject({ hits: 1, misses: 1 });
    const traced = v.dart.events.filter((e) => e.kind === "mask" && !e.remask && e.tracedBy).map((e) => e.turn);
    expect(traced).toEqual([1, 2, 3, 4]);
  });

  it("with the full node gone, the sparse node decodes with the masks in force and the session says why", async () => {
    const id = await chat("Lily went to the park with her dog");
    await f.stack.nodes[0]!.stop();
    await chat("We the people of the United States", id);
    const events = (await view(id)).dart.events.filter((e) => e.turn === 2);
    expect(events[0]).toMatchObject({ kind: "turn", decodedBy: f.stack.nodes[1]!.name });
    expect(events[0]!.traceSkipped).toMatch(/no full node could trace/);
    expect(events.some((e) => e.tracedBy)).toBe(false); // no trace: the masks in force continue
  });
});
