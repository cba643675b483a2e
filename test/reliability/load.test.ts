// Load: many concurrent sessions of several streamed turns each against the real stack
// (wrangler dev + 2 inference nodes on stories260K), then every session's stored history
// must equal exactly what its client saw: no error, no lost turn, no duplicated turn.
// Sizes: RELIABILITY_SESSIONS (32), RELIABILITY_TURNS (5), RELIABILITY_MAX_TOKENS (8).
import { cpus } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";
import { describeError, envInt, round, sessionView, streamTurn, summary, writeReport, type StreamedTurn } from "./harness.ts";

const SESSIONS = envInt("RELIABILITY_SESSIONS", 32);
const TURNS = envInt("RELIABILITY_TURNS", 5);
const MAX_TOKENS = envInt("RELIABILITY_MAX_TOKENS", 8);
const OPENINGS = ["Once upon a time", "The little dog", "Lily had a red ball", "One day, Tom went", "The sun was hot", "A big bird", "Mom said", "The cat sat"];
const FOLLOW_UPS = ["Then", "The next day,", "But", "So", "At night"];

let f: Fixture;
beforeAll(async () => {
  // The per-key rate limiter and concurrent-turn cap stay in the path, sized so that the run
  // itself (one key, SESSIONS sessions at once) never trips them.
  f = await startFixture({
    nodes: 2,
    rateLimitPerMinute: Math.max(600, 2 * SESSIONS * (TURNS + 1)),
    vars: { MAX_CONCURRENT_TURNS_PER_KEY: String(SESSIONS) },
  });
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

describe("load", () => {
  it(`${SESSIONS} concurrent sessions x ${TURNS} streamed turns on 2 nodes: no errors, stored history equals what clients saw`, async () => {
    const client = f.client();
    const seen: StreamedTurn[][] = Array.from({ length: SESSIONS }, () => []);
    const sent: string[][] = Array.from({ length: SESSIONS }, () => []);
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: SESSIONS }, async (_, s) => {
        let session: string | undefined;
        for (let t = 0; t < TURNS; t++) {
          // A per-session marker in every message: a turn stored in the wrong session shows.
          const content = `${t === 0 ? OPENINGS[s % OPENINGS.length] : FOLLOW_UPS[t % FOLLOW_UPS.length]} [s${s}t${t}]`;
          const r = await streamTurn(client, content, { session, maxTokens: MAX_TOKENS });
          sent[s]!.push(content);
          seen[s]!.push(r);
          if (r.error) return; // the session's later turns would only add noise
          session ??= r.sessionId;
        }
      }),
    );
    const wallMs = performance.now() - t0;

    const all = seen.flat();
    const errors = all.filter((r) => r.error).map((r) => describeError(r.error));
    const ok = all.filter((r) => !r.error);
    const tokens = ok.reduce((a, r) => a + r.completionTokens, 0);
    const decodeRates = ok.filter((r) => r.completionTokens > 1 && r.totalMs > r.ttftMs).map((r) => ((r.completionTokens - 1) * 1000) / (r.totalMs - r.ttftMs));
    const byNode: Record<string, number> = {};
    for (const r of ok) byNode[r.node] = (byNode[r.node] ?? 0) + 1;

    // Every session's stored history against what its client sent and saw.
    const mismatches: string[] = [];
    for (let s = 0; s < SESSIONS; s++) {
      const turns = seen[s]!;
      const id = turns[0]?.sessionId;
      if (!id) {
        mismatches.push(`session ${s}: never started`);
        continue;
      }
      const view = await sessionView(f, id);
      const expected = turns.filter((r) => !r.error).flatMap((r, t) => [
        { role: "user", content: sent[s]![t]!, turn: t + 1 },
        { role: "assistant", content: r.text, turn: t + 1 },
      ]);
      const stored = view.messages.map((m) => ({ role: m.role, content: m.content, turn: m.turn }));
      if (view.turns !== expected.length / 2 || JSON.stringify(stored) !== JSON.stringify(expected)) {
        mismatches.push(`session ${s} (${id}): stored ${view.turns} turns ${JSON.stringify(stored)} but the client saw ${JSON.stringify(expected)}`);
      }
      const usageTokens = turns.reduce((a, r) => a + r.completionTokens, 0);
      if (view.usage.completion_tokens !== usageTokens) mismatches.push(`session ${s}: stored completion_tokens ${view.usage.completion_tokens}, streamed usage said ${usageTokens}`);
    }
    const ids = new Set(seen.map((t) => t[0]?.sessionId));

    const report = {
      when: new Date().toISOString(),
      machine: { cpus: cpus().length, node: process.version },
      config: { sessions: SESSIONS, turnsPerSession: TURNS, maxTokens: MAX_TOKENS, nodes: 2, model: "stories260K", dart: "wrangler.toml DART_DEFAULTS" },
      requests: all.length,
      errors: errors.length,
      errorSamples: errors.slice(0, 5),
      lostOrDuplicatedTurns: mismatches.length,
      wallSeconds: round(wallMs / 1000, 2),
      turnsPerSecond: round(ok.length / (wallMs / 1000), 2),
      completionTokens: tokens,
      tokensPerSecond: round(tokens / (wallMs / 1000), 1),
      ttftMs: summary(ok.map((r) => r.ttftMs)),
      totalLatencyMs: summary(ok.map((r) => r.totalMs)),
      perStreamDecodeTokensPerSecond: summary(decodeRates),
      turnsByNode: byNode,
    };
    const path = writeReport("load", report);
    console.log(`[reliability] load figures (${path}):\n${JSON.stringify(report, null, 2)}`);

    expect(errors).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(ids.size).toBe(SESSIONS);
    expect(ok).toHaveLength(SESSIONS * TURNS);
    // A turn may stop at once on end-of-text (0 tokens, "stop"); a full one says "length".
    const inconsistent = ok.filter((r) => r.completionTokens > MAX_TOKENS || (r.completionTokens === MAX_TOKENS) !== (r.finishReason === "length"));
    expect(inconsistent.map((r) => `${r.sessionId}: ${r.completionTokens} tokens, ${r.finishReason}`)).toEqual([]);
    expect(tokens).toBeGreaterThan(0);
    // Rendezvous hashing spreads the sessions over both nodes.
    expect(Object.keys(byNode).sort()).toEqual(["node-1", "node-2"]);
  }, 240_000);
});
