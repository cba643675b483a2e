// Automatic session continuation inside workerd with the real node: a client that resends the
// whole conversation and names no session continues its own stored session (KV cache reused),
// a diverging history starts a new session, and another API key never finds the session.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { KEY, OTHER_KEY } from "./keys.ts";

const MODEL = "stories260K";
type Msg = { role: string; content: string };
interface Answer {
  session_id: string;
  choices: { message: { content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; prompt_tokens_details: { cached_tokens: number } };
}

async function chat(messages: Msg[], key = KEY, extra: Record<string, unknown> = {}): Promise<Answer> {
  const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, messages, max_tokens: 8, temperature: 0, ...extra }),
  });
  expect(r.status).toBe(200);
  return (await r.json()) as Answer;
}

const sessionView = async (id: string, key = KEY) =>
  (await (await SELF.fetch(`https://gateway.test/v1/sessions/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { turns: number; messages: Msg[] };

/** Runs `users` as a conversation the way stateless clients do: every request resends everything. */
async function conversation(users: string[], key = KEY) {
  const history: Msg[] = [];
  const answers: Answer[] = [];
  for (const u of users) {
    history.push({ role: "user", content: u });
    const a = await chat(history, key);
    answers.push(a);
    history.push({ role: "assistant", content: a.choices[0]!.message.content });
  }
  return { history, answers };
}

describe("automatic session continuation", () => {
  it("continues the caller's session when the request resends its history: one session, warm KV cache", async () => {
    const { history, answers } = await conversation(["Once upon a time", "The dog ran to the park.", "Then it rained."]);
    const id = answers[0]!.session_id;
    expect(answers.map((a) => a.session_id)).toEqual([id, id, id]);
    for (let i = 1; i < answers.length; i++) {
      const prev = answers[i - 1]!;
      // Everything the previous turn saw and said was cached (but the last token of a length stop).
      const prevContext = prev.usage.prompt_tokens + prev.usage.completion_tokens - (prev.choices[0]!.finish_reason === "length" ? 1 : 0);
      expect(answers[i]!.usage.prompt_tokens_details.cached_tokens).toBe(prevContext);
    }
    const view = await sessionView(id);
    expect(view.turns).toBe(3);
    expect(view.messages.map((m) => ({ role: m.role, content: m.content }))).toEqual(history);
  });

  it("a diverging history (an edited earlier message) starts a new session; the original stays continuable", async () => {
    const { history, answers } = await conversation(["Lily had a cat.", "The cat was hungry."]);
    const id = answers[0]!.session_id;
    const edited = [{ role: "user", content: "Lily had a dog." }, ...history.slice(1), { role: "user", content: "It ran away." }];
    const b = await chat(edited);
    expect(b.session_id).not.toBe(id);
    expect(b.usage.prompt_tokens_details.cached_tokens).toBe(0);
    // Regenerating the last answer (the stored history is no longer a prefix) also starts anew.
    const regen = await chat(history.slice(0, 3), KEY, { max_tokens: 2 }); // an answer that differs from the stored one
    expect(regen.session_id).not.toBe(id);
    const c = await chat([...history, { role: "user", content: "Then she slept." }]);
    expect(c.session_id).toBe(id);
    expect((await sessionView(id)).turns).toBe(3);
  });

  it("never continues another API key's session, even for the identical history", async () => {
    const { history, answers } = await conversation(["A tiny frog sat on a log.", "It saw a fly."]);
    const id = answers[0]!.session_id;
    const other = await chat([...history, { role: "user", content: "The frog jumped." }], OTHER_KEY);
    expect(other.session_id).not.toBe(id);
    expect(other.usage.prompt_tokens_details.cached_tokens).toBe(0);
    expect((await sessionView(id)).turns).toBe(2);
    // And the other key's new session is its own: key A still continues its own one.
    const mine = await chat([...history, { role: "user", content: "The frog jumped." }]);
    expect(mine.session_id).toBe(id);
  });

  it("a deleted session is not found again; explicit session_id still wins over the index", async () => {
    const { history, answers } = await conversation(["Tom had a red ball."]);
    const id = answers[0]!.session_id;
    const del = await SELF.fetch(`https://gateway.test/v1/sessions/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${KEY}` } });
    expect(del.status).toBe(200);
    const after = await chat([...history, { role: "user", content: "He threw it." }]);
    expect(after.session_id).not.toBe(id);
    const named = await chat([{ role: "user", content: "Again." }], KEY, { session_id: after.session_id });
    expect(named.session_id).toBe(after.session_id);
  });
});
