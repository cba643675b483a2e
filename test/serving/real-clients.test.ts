// Real OpenAI clients as applications use them: each holds a 4-turn conversation, resending
// the whole history every turn and naming no session, with stop sequences. From turn 2 on the
// node must find at least 80% of the prompt in its KV cache, the stop sequence must hold, and
// one stored session must serve the whole conversation (automatic session continuation).
// Clients: LangChain JS ChatOpenAI, the Vercel AI SDK (@ai-sdk/openai-compatible: generateText,
// streamText, stopSequences) and the official openai client (chat, and responses).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOpenAICompatible } from "@ai-sdk/openai-compatible";
import { AIMessage, HumanMessage, type BaseMessage } from "@langchain/core/messages";
import { ChatOpenAI } from "@langchain/openai";
import { generateText, streamText, type ModelMessage } from "ai";
import OpenAI from "openai";
import { KEY_A, MODEL, nodeTurns, startFixture, type Fixture } from "./stack-fixture.ts";

// A long opening message, as chat front-ends send (system prompt, a pasted text): the history
// dominates every later prompt, which is what a KV cache is for.
const OPENING =
  "Once upon a time, there was a little girl named Lily. She lived in a small house with her mom and dad. " +
  "Every day she played in the garden with her dog Max. One day Lily found a big red ball under a tree.";
const FOLLOW_UPS = ["Max wanted to play with the ball too", "Then it started to rain", "At night they went home"];
const STOP = ".";
const MAX_TOKENS = 40;

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, nodeWeights: "file" });
}, 300_000);
afterAll(async () => {
  await f?.dispose();
});

/** A fetch that notes the session id of every answer (clients do not surface extra fields). */
function recordingFetch() {
  const sessions: string[] = [];
  const fetchFn: typeof fetch = async (input, init) => {
    const r = await fetch(input, init);
    const s = r.headers.get("x-session-id");
    if (s) sessions.push(s);
    return r;
  };
  return { sessions, fetchFn };
}

/** What the stack saw: one session, 4 stored turns, and the node's cached share from turn 2 on. */
async function expectOneWarmSession(sessions: string[], answers: string[], opts: { stop?: string; finishes?: string[] } = {}) {
  expect(sessions).toHaveLength(4);
  expect(new Set(sessions).size).toBe(1);
  const view = (await (await f.api(`/v1/sessions/${sessions[0]}`)).json()) as { turns: number; messages: { role: string; content: string }[] };
  expect(view.turns).toBe(4);
  expect(view.messages.filter((m) => m.role === "assistant").map((m) => m.content)).toEqual(answers);
  const turns = (await nodeTurns(f.stack.nodes[0]!.url, f.stack.metricsToken)).slice(-4);
  expect(new Set(turns.map((t) => t.sessionKey)).size).toBe(1);
  for (const t of turns.slice(1)) expect(t.cachedTokens / t.promptTokens).toBeGreaterThanOrEqual(0.8);
  if (opts.stop) for (const a of answers) expect(a).not.toContain(opts.stop);
  // The stop sequence did end turns (the model writes sentences well within MAX_TOKENS).
  if (opts.finishes) expect(opts.finishes.filter((x) => x === "stop").length).toBeGreaterThanOrEqual(2);
  return turns;
}

describe("LangChain JS ChatOpenAI", () => {
  it("holds a 4-turn conversation with stop sequences on one warm session", async () => {
    const rec = recordingFetch();
    const llm = new ChatOpenAI({ model: MODEL, apiKey: KEY_A, temperature: 0, maxTokens: MAX_TOKENS, maxRetries: 0, configuration: { baseURL: `${f.stack.url}/v1`, fetch: rec.fetchFn } });
    const history: BaseMessage[] = [];
    const answers: string[] = [];
    const cached: number[] = [];
    const finishes: string[] = [];
    for (const user of [OPENING, ...FOLLOW_UPS]) {
      history.push(new HumanMessage(user));
      const r = await llm.invoke(history, { stop: [STOP] });
      const text = r.content as string;
      finishes.push(r.response_metadata.finish_reason as string);
      answers.push(text);
      cached.push(r.usage_metadata?.input_token_details?.cache_read ?? -1);
      history.push(new AIMessage(text));
    }
    const turns = await expectOneWarmSession(rec.sessions, answers, { stop: STOP, finishes });
    // The client itself reports the cached prompt tokens the node found.
    expect(cached).toEqual(turns.map((t) => t.cachedTokens));
  });
});

describe("Vercel AI SDK with @ai-sdk/openai-compatible", () => {
  it("holds a 4-turn conversation (generateText, then streamText) with stopSequences on one warm session", async () => {
    const rec = recordingFetch();
    const provider = createOpenAICompatible({ name: "dart-edge", baseURL: `${f.stack.url}/v1`, apiKey: KEY_A, fetch: rec.fetchFn, includeUsage: true });
    const messages: ModelMessage[] = [];
    const answers: string[] = [];
    const finishes: string[] = [];
    const users = [OPENING, ...FOLLOW_UPS];
    for (const [i, user] of users.entries()) {
      messages.push({ role: "user", content: user });
      const params = { model: provider(MODEL), messages, stopSequences: [STOP], maxOutputTokens: MAX_TOKENS, temperature: 0, maxRetries: 0 };
      let text: string;
      let finish: string;
      if (i < 2) {
        const r = await generateText(params);
        text = r.text;
        finish = r.finishReason;
      } else {
        const s = streamText(params);
        text = "";
        for await (const t of s.textStream) text += t;
        finish = await s.finishReason;
      }
      finishes.push(finish);
      answers.push(text);
      messages.push({ role: "assistant", content: text });
    }
    await expectOneWarmSession(rec.sessions, answers, { stop: STOP, finishes });
  });
});

describe("the official openai client", () => {
  it("chat.completions: 4 turns resending the history, streaming and not, with stop", async () => {
    const rec = recordingFetch();
    const client = new OpenAI({ apiKey: KEY_A, baseURL: `${f.stack.url}/v1`, maxRetries: 0, fetch: rec.fetchFn });
    const messages: OpenAI.ChatCompletionMessageParam[] = [];
    const answers: string[] = [];
    const finishes: string[] = [];
    for (const [i, user] of [OPENING, ...FOLLOW_UPS].entries()) {
      messages.push({ role: "user", content: user });
      let text = "";
      if (i % 2 === 0) {
        const r = await client.chat.completions.create({ model: MODEL, messages, stop: [STOP], max_tokens: MAX_TOKENS, temperature: 0 });
        text = r.choices[0]!.message.content ?? "";
        finishes.push(r.choices[0]!.finish_reason);
      } else {
        const s = await client.chat.completions.create({ model: MODEL, messages, stop: STOP, max_tokens: MAX_TOKENS, temperature: 0, stream: true });
        for await (const c of s) {
          text += c.choices[0]?.delta.content ?? "";
          if (c.choices[0]?.finish_reason) finishes.push(c.choices[0].finish_reason);
        }
      }
      answers.push(text);
      messages.push({ role: "assistant", content: text });
    }
    await expectOneWarmSession(rec.sessions, answers, { stop: STOP, finishes });
  });

  it("responses.create: 4 turns resending the input (store: false)", async () => {
    const rec = recordingFetch();
    const client = new OpenAI({ apiKey: KEY_A, baseURL: `${f.stack.url}/v1`, maxRetries: 0, fetch: rec.fetchFn });
    const input: OpenAI.Responses.ResponseInputItem[] = [];
    const answers: string[] = [];
    const cached: number[] = [];
    for (const user of [OPENING, ...FOLLOW_UPS]) {
      input.push({ role: "user", content: user });
      const r = await client.responses.create({ model: MODEL, input, store: false, max_output_tokens: MAX_TOKENS, temperature: 0 });
      answers.push(r.output_text);
      cached.push(r.usage!.input_tokens_details.cached_tokens);
      input.push({ role: "assistant", content: r.output_text });
    }
    const turns = await expectOneWarmSession(rec.sessions, answers);
    expect(cached).toEqual(turns.map((t) => t.cachedTokens));
  });
});
