// Faults of real processes in the real stack: wrangler dev (gateway + Session objects in
// workerd) killed with SIGKILL mid-conversation and started again on the same state, and an
// inference node killed with SIGKILL while it streams. Afterwards every session's stored
// history must be exactly the turns its client saw complete, and the next turn must work
// with a context replayed from nothing else.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { stories } from "../helpers/model-dir.ts";
import { startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";
import { describeError, sessionView, streamTurn, type StreamedTurn } from "./harness.ts";

const { tok } = stories();
const userTokens = (text: string) => tok.encode(text, { bos: false }).length;
const TOKEN_DELAY_MS = 10; // a slower device, so a stream is still running when the kill lands

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 2, tokenDelayMs: TOKEN_DELAY_MS, vars: { NODE_TIMEOUT_MS: "5000" } });
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

interface Conversation {
  id: string;
  /** Completed turns as the client saw them. */
  turns: { user: string; assistant: string }[];
}

async function converse(c: Conversation, user: string, maxTokens: number, onContent?: (r: StreamedTurn) => void): Promise<StreamedTurn> {
  // Greedy: the same text every run, so a turn the test kills mid-stream never ends early on end-of-text.
  const r = await streamTurn(f.client(), user, { session: c.id || undefined, maxTokens, onContent, temperature: 0 });
  if (!r.error) {
    c.id ||= r.sessionId;
    c.turns.push({ user, assistant: r.text });
  }
  return r;
}

/** The stored session equals the client's completed turns, and the next turn replays exactly them. */
async function expectConsistentAndContinues(c: Conversation, next: string) {
  const view = await sessionView(f, c.id);
  expect(view.turns).toBe(c.turns.length);
  expect(view.messages.map((m) => [m.role, m.content])).toEqual(c.turns.flatMap((t) => [["user", t.user], ["assistant", t.assistant]]));
  const stored = view.messages.reduce((a, m) => a + m.tokens, 0);
  const r = await converse(c, next, 4);
  expect(r.error, describeError(r.error)).toBeNull();
  // BOS + every committed message + the new one: nothing of an unfinished turn is in the context.
  expect(r.promptTokens).toBe(1 + stored + userTokens(next));
  expect((await sessionView(f, c.id)).turns).toBe(c.turns.length);
}

describe("wrangler dev killed and restarted mid-conversation", () => {
  it("keeps every committed turn of every session; the turn in flight is not stored; all sessions continue", async () => {
    const convs: Conversation[] = Array.from({ length: 6 }, () => ({ id: "", turns: [] }));
    for (const [t, text] of ["Once upon a time", "The dog ran."].entries()) {
      const rs = await Promise.all(convs.map((c, i) => converse(c, `${text} [${i}.${t}]`, 6)));
      expect(rs.map((r) => describeError(r.error ?? "ok"))).toEqual(rs.map(() => "ok"));
    }
    // A long turn in flight when workerd dies.
    let killed: Promise<void> | null = null;
    const inFlight = await converse(convs[0]!, "Then it rained.", 300, (r) => {
      if (r.text.length > 0 && !killed) killed = f.stack.restartGateway("SIGKILL");
    });
    expect(killed).not.toBeNull();
    await killed;
    expect(inFlight.error).not.toBeNull(); // the client saw the turn break, so it must not be stored
    expect(convs[0]!.turns).toHaveLength(2);
    for (const [i, c] of convs.entries()) await expectConsistentAndContinues(c, `After the restart [${i}]`);
  }, 180_000);
});

/** Runs `edit` on the SQLite file of the Session object holding `sessionId` (wrangler stopped). */
function editSessionDb(root: string, sessionId: string, edit: (db: DatabaseSync) => void): void {
  const files = (function walk(d: string): string[] {
    return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : e.name.endsWith(".sqlite") ? [join(d, e.name)] : []));
  })(root);
  for (const file of files) {
    const db = new DatabaseSync(file);
    try {
      const row = (() => {
        try {
          return db.prepare("SELECT session_id FROM session WHERE id = 1").get() as { session_id?: string } | undefined;
        } catch {
          return undefined; // another object's database (rate limiter)
        }
      })();
      if (row?.session_id === sessionId) return edit(db);
    } finally {
      db.close();
    }
  }
  throw new Error(`no Session object database for ${sessionId} under ${root}`);
}

describe("stored session data damaged on disk", () => {
  it("a corrupt token id in the history is refused by the node, never generated from; a corrupt DART state is re-traced", async () => {
    const [badIds, badState] = [{ id: "", turns: [] }, { id: "", turns: [] }] as Conversation[];
    for (const c of [badIds!, badState!]) for (const text of ["Once upon a time", "The cat sat."]) expect((await converse(c, text, 6)).error).toBeNull();
    await f.stack.restartGateway("SIGTERM", () => {
      // A token id outside the 512-token vocabulary in the first stored message; a DART state that is zeros.
      editSessionDb(f.persistDir, badIds!.id, (db) => db.exec("UPDATE messages SET ids = '[99999, 7]' WHERE seq = (SELECT MIN(seq) FROM messages)"));
      editSessionDb(f.persistDir, badState!.id, (db) => db.prepare("UPDATE session SET pruner_state = ? WHERE id = 1").run(Buffer.alloc(64).toString("base64")));
    });

    // The damaged history is detected when the node prefills it: a server error, no text, nothing stored.
    const r = await converse(badIds!, "Then?", 6);
    expect(r.error, "a turn on a corrupt history must fail").toBeInstanceOf(OpenAI.APIError);
    expect(r.text).toBe("");
    console.log(`[reliability] corrupt stored token id: ${describeError(r.error)}`);
    const view = await sessionView(f, badIds!.id);
    expect(view.turns).toBe(2);
    expect(view.messages.map((m) => m.content)).toEqual(badIds!.turns.flatMap((t) => [t.user, t.assistant]));

    // The zeroed DART state fails its format check on the node, which starts the tracer afresh.
    await expectConsistentAndContinues(badState!, "Then it rained.");
  }, 180_000);
});

describe("an inference node killed with SIGKILL while streaming", () => {
  it("streams on it fail cleanly in-band, queued turns complete on the other node, histories stay consistent, next turns work", async () => {
    const convs: Conversation[] = Array.from({ length: 8 }, () => ({ id: "", turns: [] }));
    const first = await Promise.all(convs.map((c, i) => converse(c, `Once upon a time [${i}]`, 4)));
    expect(first.every((r) => !r.error)).toBe(true);
    const victim = f.stack.nodes.find((n) => n.name === first[0]!.node)!;
    expect(victim).toBeDefined();

    let killedAt = 0;
    // When each stream's first and last text arrived: which node could have served it depends on it.
    const firstAt: number[] = [], lastAt: number[] = [];
    const results = await Promise.all(
      convs.map((c, i) =>
        converse(c, `The little bird [${i}]`, 60, (r) => {
          firstAt[i] ??= Date.now();
          lastAt[i] = Date.now();
          // Kill once session 0's turn, on the victim node, has streamed a few tokens.
          if (i === 0 && r.text.length >= 3 && !killedAt) {
            killedAt = Date.now();
            process.kill(-victim.pid, "SIGKILL");
          }
        }),
      ),
    );
    expect(killedAt).toBeGreaterThan(0);
    const failed = results.filter((r) => r.error);
    // Session 0 was mid-stream on the victim: a clean in-band OpenAI error, not a cut connection.
    expect(results[0]!.error).toBeInstanceOf(OpenAI.APIError);
    expect((results[0]!.error as InstanceType<typeof OpenAI.APIError>).code).toBe("node_failed");
    for (const r of failed) expect(r.error, describeError(r.error)).toBeInstanceOf(OpenAI.APIError);
    // A turn that completed on the victim finished before the kill; one whose text started after the kill ran on the survivor.
    // (1 s of slack for text already in flight when the kill happened.)
    const survivor = f.stack.nodes.find((n) => n !== victim)!.name;
    results.forEach((r, i) => {
      if (r.error) return;
      if (r.node === victim.name) expect(lastAt[i]!, `turn ${i} completed on the killed node`).toBeLessThanOrEqual(killedAt + 1000);
      else expect(r.node).toBe(survivor);
      if (firstAt[i]! > killedAt + 1000) expect(r.node, `turn ${i} started after the kill`).toBe(survivor);
    });
    expect(results.filter((r) => !r.error && r.node === survivor).length).toBeGreaterThan(0);
    console.log(`[reliability] node kill: ${failed.length} of ${results.length} streams failed in-band (${[...new Set(failed.map((r) => describeError(r.error)))].join("; ")}), ${results.length - failed.length} completed`);

    for (const [i, c] of convs.entries()) await expectConsistentAndContinues(c, `The end [${i}]`);
  }, 180_000);
});
