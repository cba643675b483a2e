// stream_options.include_dart_events on the real stack: the pruner's events reach the client
// while the turn streams, and they are exactly what the session stores for that turn.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MODEL, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1 });
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

interface Chunk {
  choices: { delta?: { content?: string } }[];
  dart_event?: Record<string, unknown> & { kind: string; masks?: unknown[] };
  usage?: unknown;
}

async function stream(body: object): Promise<{ chunks: Chunk[]; sessionId: string }> {
  const r = await f.api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, stream: true, max_tokens: 64, ...body }) });
  expect(r.status).toBe(200);
  const chunks = (await r.text())
    .split("\n")
    .filter((l) => l.startsWith("data: ") && l !== "data: [DONE]")
    .map((l) => JSON.parse(l.slice(6)) as Chunk);
  return { chunks, sessionId: r.headers.get("x-session-id")! };
}

describe("stream_options.include_dart_events", () => {
  it("streams each turn's DART events, interleaved with the text, equal to what the session stores", async () => {
    const opts = { stream_options: { include_dart_events: true, include_usage: true } };
    const t1 = await stream({ ...opts, messages: [{ role: "user", content: "Once upon a time" }] });
    const t2 = await stream({ ...opts, session_id: t1.sessionId, messages: [{ role: "user", content: "Then the bird sang a song" }] });
    const view = (await (await f.api(`/v1/sessions/${t1.sessionId}`)).json()) as { dart: { events: ({ turn: number } & Record<string, unknown>)[]; masks: unknown[] } };
    for (const [i, t] of [t1, t2].entries()) {
      const live = t.chunks.filter((c) => c.dart_event).map((c) => c.dart_event!);
      const stored = view.dart.events.filter((e) => e.turn === i + 1).map(({ turn: _turn, ...e }) => e);
      expect(live.length).toBeGreaterThan(0);
      expect(live.map(({ masks: _m, ...e }) => e)).toEqual(stored);
      // Events arrive while text streams, not all at the end: some text comes after the first event.
      const firstEvent = t.chunks.findIndex((c) => c.dart_event);
      expect(t.chunks.slice(firstEvent).some((c) => c.choices[0]?.delta?.content)).toBe(true);
      // Every mask built carries the per-layer summary; the last one is what the session ends with.
      const built = live.filter((e) => e.kind === "mask" && e.remask === false);
      expect(built.length).toBeGreaterThan(0);
      for (const b of built) expect(b.masks).toHaveLength(5);
      if (i === 1) expect(built.at(-1)!.masks).toEqual(view.dart.masks);
      // The event chunks have no choices, like the usage chunk.
      for (const c of t.chunks.filter((c) => c.dart_event)) expect(c.choices).toEqual([]);
    }
  });

  it("sends none unless asked, and rejects a non-boolean", async () => {
    const plain = await stream({ messages: [{ role: "user", content: "Once upon a time" }] });
    expect(plain.chunks.some((c) => c.dart_event)).toBe(false);
    expect(plain.chunks.every((c) => c.choices.length === 1)).toBe(true);
    const bad = await f.api("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: MODEL, stream: true, stream_options: { include_dart_events: "yes" }, messages: [{ role: "user", content: "x" }] }),
    });
    expect(bad.status).toBe(400);
    // Non-streamed answers are unchanged by the events the node now sends.
    const r = await f.api("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: "user", content: "Once upon a time" }] }) });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content.length).toBeGreaterThan(0);
  });
});
