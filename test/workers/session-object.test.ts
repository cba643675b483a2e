// The Session Durable Object inside workerd: what it stores in SQLite, that it survives
// eviction, and deletion. Turns run on the real node from global setup.
import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../gateway/middleware/auth.ts";
import { sessionStub } from "../../gateway/session-stub.ts";
import type { SessionObject } from "../../workers/session/session-object.ts";
import { KEY } from "./keys.ts";

const MODEL = "stories260K";

async function chat(content: string, session?: string) {
  const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 6, temperature: 0, ...(session ? { session_id: session } : {}) }),
  });
  expect(r.status).toBe(200);
  return (await r.json()) as { session_id: string; usage: { prompt_tokens: number; completion_tokens: number }; choices: { message: { content: string } }[] };
}

const getSession = (id: string) => SELF.fetch(`https://gateway.test/v1/sessions/${id}`, { headers: { authorization: `Bearer ${KEY}` } });

describe("Session Durable Object", () => {
  it("stores messages with their token ids and the usage totals in SQLite", async () => {
    const a = await chat("Once upon a time");
    const b = await chat("The dog", a.session_id);
    const owner = (await sha256Hex(KEY)).slice(0, 32);
    const stub = sessionStub(env, owner, a.session_id);
    const rows = await runInDurableObject(stub, (_o: SessionObject, state) =>
      state.storage.sql.exec<{ role: string; content: string; ids: string; turn: number }>("SELECT role, content, ids, turn FROM messages ORDER BY seq").toArray(),
    );
    expect(rows.map((r) => [r.role, r.turn])).toEqual([["user", 1], ["assistant", 1], ["user", 2], ["assistant", 2]]);
    expect(rows[1]!.content).toBe(a.choices[0]!.message.content);
    expect((JSON.parse(rows[1]!.ids) as number[]).length).toBe(a.usage.completion_tokens);
    // The second turn's prompt is BOS plus every stored id.
    const stored = rows.slice(0, 3).reduce((n, r) => n + (JSON.parse(r.ids) as number[]).length, 0);
    expect(b.usage.prompt_tokens).toBe(1 + stored);
    const meta = await runInDurableObject(stub, (_o: SessionObject, state) =>
      state.storage.sql.exec<{ turns: number; owner: string; prompt_tokens: number }>("SELECT turns, owner, prompt_tokens FROM session").one(),
    );
    expect(meta).toEqual({ turns: 2, owner, prompt_tokens: a.usage.prompt_tokens + b.usage.prompt_tokens });
  });

  it("keeps the session when the object is evicted, and continues it", async () => {
    const a = await chat("Once upon a time");
    const before = await (await getSession(a.session_id)).json();
    const owner = (await sha256Hex(KEY)).slice(0, 32);
    await evictDurableObject(sessionStub(env, owner, a.session_id));
    expect(await (await getSession(a.session_id)).json()).toEqual(before);
    const next = await chat("Then", a.session_id);
    expect(next.session_id).toBe(a.session_id);
    const view = (await (await getSession(a.session_id)).json()) as { turns: number; messages: unknown[] };
    expect(view.turns).toBe(2);
    expect(view.messages).toHaveLength(4);
  });

  it("DELETE removes everything; the id then answers 404", async () => {
    const a = await chat("Once upon a time");
    const del = await SELF.fetch(`https://gateway.test/v1/sessions/${a.session_id}`, { method: "DELETE", headers: { authorization: `Bearer ${KEY}` } });
    expect(await del.json()).toEqual({ id: a.session_id, object: "session.deleted", deleted: true });
    expect((await getSession(a.session_id)).status).toBe(404);
    const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], session_id: a.session_id }),
    });
    expect(r.status).toBe(404);
  });

  it("takes only the messages after the last assistant reply of a resent conversation", async () => {
    const a = await chat("Once upon a time");
    const send = (messages: { role: string; content: string }[]) =>
      SELF.fetch("https://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages, max_tokens: 3, session_id: a.session_id }),
      });
    const full = [{ role: "user", content: "Once upon a time" }, { role: "assistant", content: a.choices[0]!.message.content }, { role: "user", content: "The end" }];
    expect((await send(full)).status).toBe(200);
    const view = (await (await getSession(a.session_id)).json()) as { messages: { role: string; content: string }[] };
    expect(view.messages.map((m) => m.content).slice(0, 3)).toEqual(full.map((m) => m.content));
    expect(view.messages).toHaveLength(4);
    // Nothing new after the last assistant message: 400, not a silent re-run.
    const r = await send(full.slice(0, 2));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe("no_new_message");
  });

  it("refuses to change DART settings mid-session", async () => {
    const a = await chat("Once upon a time");
    const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x" }], session_id: a.session_id, dart: { sparsity: 0.3 } }),
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string } }).error.param).toBe("dart");
  });
});

describe("context overflow", () => {
  it("drops the oldest messages when the history outgrows the context, says so, and keeps them in the history", async () => {
    let session: string | undefined;
    let dropped = 0;
    let last: Response | undefined;
    for (let turn = 0; turn < 10 && dropped === 0; turn++) {
      last = await SELF.fetch("https://gateway.test/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 150, temperature: 0.8, seed: turn, ...(session ? { session_id: session } : {}) }),
      });
      expect(last.status).toBe(200);
      const body = (await last.clone().json()) as { session_id: string; dropped_messages: number };
      session = body.session_id;
      dropped = body.dropped_messages;
    }
    expect(dropped).toBeGreaterThan(0);
    expect(last!.headers.get("x-dropped-messages")).toBe(String(dropped));
    const body = (await last!.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
    expect(body.usage.prompt_tokens + body.usage.completion_tokens).toBeLessThanOrEqual(512);
    const view = (await (await getSession(session!)).json()) as { messages: { in_context: boolean; tokens: number; turn: number }[] };
    const out = view.messages.filter((m) => !m.in_context);
    expect(out).toHaveLength(dropped);
    expect(view.messages.slice(0, dropped).every((m) => !m.in_context)).toBe(true); // the oldest ones
    // The last prompt is BOS + the messages still in context, minus this turn's reply.
    const inContext = view.messages.filter((m) => m.in_context);
    expect(body.usage.prompt_tokens).toBe(1 + inContext.slice(0, -1).reduce((n, m) => n + m.tokens, 0));
  });
});
