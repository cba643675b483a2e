// The Session object's pruner state at real-model scale, inside workerd on the real
// Durable Object SQLite (which refuses any single value over about 2 MB): states of the
// Llama-3.1-8B shape and of a 128K-vocabulary model store in chunks, survive eviction
// byte for byte and travel to the real node; a turn whose state or history storage cannot
// take fails with a clear error and leaves the session as it was.
import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import { sha256Hex } from "../../gateway/middleware/auth.ts";
import { sessionStub } from "../../gateway/session-stub.ts";
import { shapedState, STATE_SHAPES } from "../../shared/dart/state-shape.ts";
import { toBase64 } from "../../shared/serving/base64.ts";
import type { SessionObject } from "../../workers/session/session-object.ts";
import { stateVersion } from "../../shared/serving/state-version.ts";
import { STATE_CHUNK_BYTES } from "../../workers/session/state-blob.ts";
import { SessionStore, type TurnRecord } from "../../workers/session/store.ts";
import { KEY } from "./keys.ts";

const MODEL = "stories260K";

async function chat(content: string, session?: string, maxTokens = 6) {
  const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0, ...(session ? { session_id: session } : {}) }),
  });
  return r;
}

async function newSession() {
  const r = await chat("Once upon a time");
  expect(r.status).toBe(200);
  const id = ((await r.json()) as { session_id: string }).session_id;
  return { id, stub: sessionStub(env, (await sha256Hex(KEY)).slice(0, 32), id) };
}

type Stub = Awaited<ReturnType<typeof newSession>>["stub"];

/** Everything a turn stores, as rows, to compare before and after a refused turn. */
const snapshot = (stub: Stub) =>
  runInDurableObject(stub, (_o: SessionObject, state) => {
    const sql = state.storage.sql;
    const store = new SessionStore(state.storage);
    return {
      session: sql.exec("SELECT turns, masks, stats, prompt_tokens, completion_tokens FROM session").one(),
      messages: sql.exec("SELECT seq, role, content, ids, in_context FROM messages ORDER BY seq").toArray(),
      events: sql.exec("SELECT seq, event FROM events ORDER BY seq").toArray(),
      state: Array.from(store.prunerState() ?? []),
      info: store.meta()!.state,
    };
  });

const turnRecord = (bytes: Uint8Array, version: string, over: Partial<TurnRecord> = {}): TurnRecord => ({
  droppedMessages: 0,
  messages: [{ role: "user", content: "hello", ids: [1, 2, 3] }, { role: "assistant", content: "hi", ids: [4] }],
  prunerState: { bytes, version },
  events: [],
  masks: [],
  stats: { tokens: 1, denseTokens: 1, effectiveSparsity: 0, remasks: 0 },
  usage: { promptTokens: 3, completionTokens: 1, cachedTokens: 0 },
  ...over,
});

describe("pruner state at real-model scale", () => {
  const shapes = [
    { name: "Llama-3.1-8B (32 x 14,336 neurons), dart-paper mid-trace after a 4,096-token prompt", config: STATE_SHAPES["llama3-8b"]!, o: { method: "dart-paper" as const, mode: "tracing" as const, tracedTokens: 4096 } },
    { name: "Llama-3.1-8B, dart masked (a turn's usual end)", config: STATE_SHAPES["llama3-8b"]!, o: { mode: "masked" as const } },
    { name: "128K-vocabulary Llama-3.2-1B shape, dart mid-trace", config: STATE_SHAPES["llama3.2-1b"]!, o: { mode: "tracing" as const, tracedTokens: 1024 } },
  ];
  for (const { name, config, o } of shapes) {
    it(`${name}: stores in chunks, survives eviction byte for byte, and travels to the node`, async () => {
      const { id, stub } = await newSession();
      const bytes = shapedState(config, o);
      const version = await stateVersion(bytes);
      await runInDurableObject(stub, (_o: SessionObject, state) => new SessionStore(state.storage).recordTurn(turnRecord(bytes, version)));
      await evictDurableObject(stub);
      const back = await runInDurableObject(stub, (_o: SessionObject, state) => {
        const store = new SessionStore(state.storage);
        const chunks = state.storage.sql.exec<{ n: number; biggest: number }>("SELECT count(*) AS n, max(length(data)) AS biggest FROM pruner_state_chunks").one();
        return { bytes: store.prunerState()!, info: store.meta()!.state, chunks };
      });
      expect(back.info).toEqual({ version, bytes: bytes.byteLength });
      expect(back.bytes.byteLength).toBe(bytes.byteLength);
      expect(await stateVersion(back.bytes)).toBe(version);
      expect(toBase64(back.bytes)).toBe(toBase64(bytes));
      expect(back.chunks.n).toBe(Math.ceil(bytes.byteLength / STATE_CHUNK_BYTES));
      expect(back.chunks.biggest).toBeLessThanOrEqual(STATE_CHUNK_BYTES);
      // The next turn carries the state to the real node (a stories260K node: another model's
      // state costs a re-trace there), and stores the state that node sends back.
      const next = await chat("Then", id);
      expect(next.status, `${await next.clone().text()} (node log: .cache/workers-test-node.log)`).toBe(200);
      const after = await snapshot(stub);
      expect(after.info!.bytes).toBeLessThan(16_384);
      expect(after.info!.version).not.toBe(version);
    }, 120_000); // a 15 MB state crosses workerd, SQLite and the node's HTTP body several times
  }

  it("one SQLite value refuses such a state (why it is chunked): Cloudflare documents 2 MB, local workerd about 8.4 MB", async () => {
    const { stub } = await newSession();
    const bytes = shapedState(STATE_SHAPES["llama3-8b"]!, { method: "dart-paper", mode: "tracing", tracedTokens: 4096 });
    expect(bytes.byteLength).toBeGreaterThan(10_000_000);
    const err = await runInDurableObject(stub, (_o: SessionObject, state) => {
      try {
        state.storage.sql.exec("INSERT INTO pruner_state_chunks (idx, data) VALUES (99, ?)", bytes.slice().buffer);
        return "stored";
      } catch (e) {
        return (e as Error).message;
      }
    });
    expect(err).toMatch(/SQLITE_TOOBIG/);
  });

  it("token ids of a 128K vocabulary (over 16 bits) round-trip", async () => {
    const { stub } = await newSession();
    const ids = [0, 1, 65535, 65536, STATE_SHAPES["llama3.2-1b"]!.vocabSize - 1];
    const back = await runInDurableObject(stub, async (_o: SessionObject, state) => {
      const store = new SessionStore(state.storage);
      store.recordTurn(turnRecord(new Uint8Array(16), "v", { messages: [{ role: "user", content: "x", ids }] }));
      return store.messages().at(-1)!.ids;
    });
    expect(back).toEqual(ids);
  });
});

describe("storage limits are clear errors and lose nothing", () => {
  it("a write SQLite refuses mid-turn rolls the whole turn back, state chunks included", async () => {
    const { stub } = await newSession();
    const before = await snapshot(stub);
    const big = shapedState(STATE_SHAPES["llama3-8b"]!, { mode: "masked" });
    const result = await runInDurableObject(stub, async (_o: SessionObject, state) => {
      // The new state is written first; then an event SQLite refuses (12 MB: over the limit
      // here and in production) fails the transaction.
      const huge = { pos: 0, kind: "turn" as const, remask: true, note: "x".repeat(12_000_000) };
      try {
        new SessionStore(state.storage).recordTurn(turnRecord(big, await stateVersion(big), { events: [huge] }));
        return null;
      } catch (e) {
        return { name: (e as Error).name, status: (e as { status?: number }).status, code: (e as { code?: string }).code, message: (e as Error).message };
      }
    });
    expect(result).toMatchObject({ status: 507, code: "storage_limit" });
    expect(await snapshot(stub)).toEqual(before);
  });

  it("a message too large for one row is refused before anything is written", async () => {
    const { stub } = await newSession();
    const before = await snapshot(stub);
    const result = await runInDurableObject(stub, (_o: SessionObject, state) => {
      try {
        new SessionStore(state.storage).recordTurn(turnRecord(new Uint8Array(8), "v", { messages: [{ role: "assistant", content: "é".repeat(1_100_000), ids: [1] }] }));
        return null;
      } catch (e) {
        return { status: (e as { status?: number }).status, code: (e as { code?: string }).code, message: (e as Error).message };
      }
    });
    expect(result).toMatchObject({ status: 413, code: "message_too_large" });
    expect(result!.message).toMatch(/2200000 bytes/);
    expect(await snapshot(stub)).toEqual(before);
  });

  it("a turn whose state is over MAX_STATE_BYTES fails with state_too_large and the session is unchanged", async () => {
    const { id, stub } = await newSession();
    const before = await snapshot(stub);
    await runInDurableObject(stub, (o: SessionObject) => {
      o.limits.maxStateBytes = 1000; // this object only; stories260K's state is about 3 KB
    });
    const r = await chat("The dog", id);
    expect(r.status).toBe(507);
    const body = (await r.json()) as { error: { code: string; message: string; type: string } };
    expect(body.error.code).toBe("state_too_large");
    expect(body.error.message).toMatch(/over the session's limit of 1000 bytes.*not stored/);
    expect(await snapshot(stub)).toEqual(before);
    // With room again the same turn goes through.
    await runInDurableObject(stub, (o: SessionObject) => {
      o.limits.maxStateBytes = 16 * 1024 * 1024;
    });
    expect((await chat("The dog", id)).status).toBe(200);
    expect(((await snapshot(stub)).session as { turns: number }).turns).toBe(2);
  });
});

describe("sessions stored before the chunked store", () => {
  it("a version-1 base64 state in session.pruner_state reaches the node, which continues it; the turn stores v2 chunks", async () => {
    const { id, stub } = await newSession();
    const v1 = inject("v1State");
    const facts = JSON.parse(v1.facts) as { settings: unknown; counters: { tokens: number } };
    // What a pre-upgrade object holds: the v1 blob as base64 TEXT, no chunk rows, the blob's settings.
    await runInDurableObject(stub, (_o: SessionObject, state) => {
      const sql = state.storage.sql;
      sql.exec("DELETE FROM pruner_state");
      sql.exec("DELETE FROM pruner_state_chunks");
      sql.exec("UPDATE session SET pruner_state = ?, dart = ?", v1.base64, JSON.stringify(facts.settings));
    });
    const r = await chat("The dog", id);
    expect(r.status).toBe(200);
    const after = await runInDurableObject(stub, (_o: SessionObject, state) => {
      const store = new SessionStore(state.storage);
      const row = state.storage.sql.exec<{ pruner_state: string; stats: string }>("SELECT pruner_state, stats FROM session").one();
      return { legacy: row.pruner_state, stats: JSON.parse(row.stats) as { tokens: number }, state: store.prunerState()! };
    });
    // The node restored the v1 state: its token counter continues from the blob's.
    expect(after.stats.tokens).toBeGreaterThan(facts.counters.tokens);
    expect(after.legacy).toBe("");
    expect(new DataView(after.state.buffer).getUint32(4, true)).toBe(2);
  });
});
