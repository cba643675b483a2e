// Bounded sessions inside workerd (turns on the real node from global setup): messages per
// request and per session, empty messages left out, paged history, idle expiry by alarm.
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../gateway/middleware/auth.ts";
import { sessionStub } from "../../gateway/session-stub.ts";
import type { SessionObject } from "../../workers/session/session-object.ts";
import { KEY, MAX_MESSAGES_PER_REQUEST, MAX_SESSION_MESSAGES } from "./keys.ts";

const MODEL = "stories260K";
const call = (path: string, init: RequestInit = {}) =>
  SELF.fetch(`https://gateway.test${path}`, { ...init, headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" } });
const chat = (messages: { role: string; content: string }[], session?: string) =>
  call("/v1/chat/completions", { method: "POST", body: JSON.stringify({ model: MODEL, messages, max_tokens: 2, temperature: 0, ...(session ? { session_id: session } : {}) }) });
const errorCode = async (r: Response) => ((await r.json()) as { error: { code: string } }).error.code;

interface View {
  messages: { seq: number; role: string; content: string }[];
  total_messages: number;
  has_more: boolean;
  next_after: number | null;
}

describe("session bounds", () => {
  it("refuses a request with more messages than MAX_MESSAGES_PER_REQUEST (400)", async () => {
    const many = Array.from({ length: MAX_MESSAGES_PER_REQUEST + 1 }, (_, i) => ({ role: "user", content: `m${i}` }));
    const r = await chat(many);
    expect(r.status).toBe(400);
    expect(await errorCode(r)).toBe("too_many_messages");
  });

  it("leaves empty messages out; refuses to grow a session past MAX_SESSION_MESSAGES (413); pages its history", async () => {
    const first = await chat([{ role: "user", content: "" }, { role: "user", content: "Once upon a time" }, { role: "user", content: "" }]);
    expect(first.status).toBe(200);
    const id = ((await first.json()) as { session_id: string }).session_id;
    const view0 = (await (await call(`/v1/sessions/${id}`)).json()) as View;
    expect(view0.messages.map((m) => m.content.length > 0)).toEqual([true, true]);
    expect(view0.messages[0]!.content).toBe("Once upon a time");
    // Each turn stores two messages: fill the session to its cap.
    for (let stored = 2; stored < MAX_SESSION_MESSAGES; stored += 2) expect((await chat([{ role: "user", content: "Then" }], id)).status).toBe(200);
    const over = await chat([{ role: "user", content: "More" }], id);
    expect(over.status).toBe(413);
    expect(await errorCode(over)).toBe("session_too_large");
    // Pages of 5 give every message once, in order.
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = (await (await call(`/v1/sessions/${id}?limit=5&after=${after}`)).json()) as View;
      expect(page.messages.length).toBeLessThanOrEqual(5);
      expect(page.total_messages).toBe(MAX_SESSION_MESSAGES);
      seen.push(...page.messages.map((m) => m.seq));
      if (!page.has_more) break;
      after = page.next_after!;
    }
    expect(seen).toHaveLength(MAX_SESSION_MESSAGES);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(new Set(seen).size).toBe(seen.length);
    expect((await call(`/v1/sessions/${id}?limit=0`)).status).toBe(400);
    expect((await call(`/v1/sessions/${id}?after=x`)).status).toBe(400);
  });

  it("schedules an idle-expiry alarm after a turn; when it fires the session is gone", async () => {
    const r = await chat([{ role: "user", content: "Once upon a time" }]);
    const id = ((await r.json()) as { session_id: string }).session_id;
    const stub = sessionStub(env, (await sha256Hex(KEY)).slice(0, 32), id);
    const alarm = await runInDurableObject(stub, (_o: SessionObject, state) => state.storage.getAlarm());
    // Default SESSION_IDLE_TTL_S: 30 days from the turn.
    expect(alarm! - Date.now()).toBeGreaterThan(29 * 24 * 3600 * 1000);
    expect(alarm! - Date.now()).toBeLessThanOrEqual(30 * 24 * 3600 * 1000);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect((await call(`/v1/sessions/${id}`)).status).toBe(404);
  });
});
