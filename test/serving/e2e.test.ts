// End to end through the real stack with the official openai client: workerd (wrangler dev)
// running the gateway and Session objects, two real inference node processes, stories260K.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { generate, generateFromIds } from "../../shared/engine/generate.ts";
import { createPruner, parseDartSettings, type DartSettings } from "../../shared/dart/index.ts";
import { stories } from "../helpers/model-dir.ts";
import { KEY_B, MODEL, nodeTurns, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

type Extra = { session_id: string; dropped_messages: number; usage: { tokens_cached: number } };
const extra = (r: unknown) => r as Extra;
const { tf, tok } = stories();
const userTokens = (text: string) => tok.encode(text, { bos: false }).length;
/** Dense sessions produce exactly the engine's own output, which the tests compute independently. */
const dense = <T extends object>(params: T): T => ({ ...params, dart: { method: "dense" } });

/** Greedy completion of `prompt` with a pruner in this process, as a node runs a first turn. */
function prunedCompletion(prompt: string, settings: DartSettings, maxTokens: number) {
  const state = tf.newState();
  const ids = tok.encode(prompt, { bos: true });
  const pruner = createPruner(tf, state, settings);
  pruner.beginTurn(0, ids.length);
  const r = generateFromIds(tf, tok, ids, state, { maxTokens, temperature: 0, beforeForward: (p, t, ph) => pruner.beforeForward(p, t, ph), hooks: pruner.hooks });
  return { text: r.completion, stats: pruner.stats() };
}

let f: Fixture;
beforeAll(async () => {
  // 4 ms per generated token: slow enough to catch a generation in flight (409, abort).
  f = await startFixture({ tokenDelayMs: 4, vars: { NODE_TIMEOUT_MS: "2000" } });
}, 120_000);
afterAll(async () => {
  await disposeFixtures();
});

async function chat(content: string, opts: { session?: string; maxTokens?: number; key?: string } = {}) {
  const params = {
    model: MODEL,
    messages: [{ role: "user" as const, content }],
    max_tokens: opts.maxTokens ?? 16,
    temperature: 0,
    ...(opts.session ? { session_id: opts.session } : {}),
  };
  return f.client(opts.key).chat.completions.create(params as OpenAI.ChatCompletionCreateParamsNonStreaming);
}

describe("chat completions", () => {
  it("answers a non-streaming chat with the engine's own greedy continuation", async () => {
    const { data, response } = await f.client().chat.completions
      .create(dense({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 24, temperature: 0 }))
      .withResponse();
    const expected = generate(tf, tok, "Once upon a time", { maxTokens: 24, temperature: 0 });
    expect(data.object).toBe("chat.completion");
    expect(data.choices[0]!.message.content).toBe(expected.completion);
    expect(data.choices[0]!.finish_reason).toBe("length");
    expect(data.usage).toMatchObject({ prompt_tokens: expected.promptIds.length, completion_tokens: 24, total_tokens: expected.promptIds.length + 24 });
    expect(data.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    expect(extra(data).session_id).toMatch(/^sess_[0-9a-f]{32}$/);
    expect(response.headers.get("x-session-id")).toBe(extra(data).session_id);
  });

  it("streams chunks ending in [DONE], with usage when asked", async () => {
    const stream = await f.client().chat.completions.create(
      dense({
        model: MODEL,
        messages: [{ role: "user", content: "Once upon a time" }],
        max_tokens: 24,
        temperature: 0,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(generate(tf, tok, "Once upon a time", { maxTokens: 24, temperature: 0 }).completion);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe("length");
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toMatchObject({ completion_tokens: 24, total_tokens: last.usage!.prompt_tokens + 24 });
    // The raw wire format ends with the [DONE] sentinel (the client hides it).
    const raw = await f.api("/v1/chat/completions", {
      method: "POST",
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 3, stream: true }),
    });
    expect(raw.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect((await raw.text()).trimEnd().endsWith("data: [DONE]")).toBe(true);
  });

  it("runs a 5-turn session: the context grows by each turn, warm turns reuse the KV cache", async () => {
    const turns = ["Once upon a time", "The dog ran to the park.", "Then it started to rain.", "Tom found a red ball.", "At night they went home."];
    let session: string | undefined;
    let prevContext = 0; // prompt + completion tokens of the previous turn
    const usages: OpenAI.CompletionUsage[] = [];
    for (const [i, content] of turns.entries()) {
      const r = await chat(content, { session, maxTokens: 12 });
      session ??= extra(r).session_id;
      expect(extra(r).session_id).toBe(session);
      const u = r.usage!;
      usages.push(u);
      // BOS + everything said so far + the new message.
      expect(u.prompt_tokens).toBe((i === 0 ? 1 : prevContext) + userTokens(content));
      // Everything but the previous turn's last token (a length stop never runs it) was already in the node's cache.
      expect(u.prompt_tokens_details!.cached_tokens).toBe(i === 0 ? 0 : prevContext - (r.choices[0]!.finish_reason === "length" ? 1 : 0));
      expect(extra(r).usage.tokens_cached).toBe(u.prompt_tokens_details!.cached_tokens);
      prevContext = u.prompt_tokens + u.completion_tokens;
    }
    const view = (await (await f.api(`/v1/sessions/${session}`)).json()) as {
      messages: { role: string; content: string; tokens: number }[];
      turns: number;
      usage: { prompt_tokens: number; completion_tokens: number; cached_tokens: number };
      dart: { masks: { layer: number; kept: number; total: number }[] };
    };
    expect(view.turns).toBe(5);
    expect(view.messages.map((m) => m.role)).toEqual(Array.from({ length: 10 }, (_, i) => (i % 2 ? "assistant" : "user")));
    expect(view.messages.filter((m) => m.role === "user").map((m) => m.content)).toEqual(turns);
    expect(view.usage.prompt_tokens).toBe(usages.reduce((a, u) => a + u.prompt_tokens, 0));
    expect(view.usage.cached_tokens).toBe(usages.reduce((a, u) => a + u.prompt_tokens_details!.cached_tokens!, 0));
    expect(view.dart.masks).toHaveLength(tf.config.nLayers);
  });
});

describe("completions", () => {
  it("streams a text completion and continues the session named by the X-Session-Id header", async () => {
    const stream = await f.client().completions.create(dense({ model: MODEL, prompt: "Once upon a time", max_tokens: 10, temperature: 0, stream: true }));
    let text = "";
    let session = "";
    for await (const c of stream) {
      text += c.choices[0]?.text ?? "";
      session = (c as unknown as Extra).session_id;
    }
    expect(text).toBe(generate(tf, tok, "Once upon a time", { maxTokens: 10, temperature: 0 }).completion);
    const next = await f.client().completions.create({ model: MODEL, prompt: " The end.", max_tokens: 4, temperature: 0 }, { headers: { "X-Session-Id": session } });
    expect(extra(next).session_id).toBe(session);
    expect(next.usage!.prompt_tokens_details!.cached_tokens).toBeGreaterThan(0);
  });
});

describe("DART", () => {
  it("prunes by default (wrangler.toml DART_DEFAULTS) and reports masks, events and effective sparsity", async () => {
    const r = await chat("Once upon a time", { maxTokens: 60 });
    const d = (r as unknown as { dart: { method: string; effective_sparsity: number; dense_tokens: number; tokens: number } }).dart;
    expect(d.method).toBe("dart");
    expect(d.effective_sparsity).toBeGreaterThan(0);
    expect(d.dense_tokens).toBeLessThan(d.tokens);
    const view = (await (await f.api(`/v1/sessions/${extra(r).session_id}`)).json()) as {
      dart: { settings: { method: string }; masks: { kept: number; total: number }[]; events: { turn: number; kind: string }[] };
    };
    expect(view.dart.settings.method).toBe("dart");
    expect(view.dart.masks.some((m) => m.kept < m.total)).toBe(true);
    expect(view.dart.events.length).toBeGreaterThan(0);
    expect(view.dart.events.every((e) => e.turn === 1)).toBe(true);
  });

  it("every method of the request runs behind the same API, exactly as the pruner runs it in process", async () => {
    const texts: string[] = [];
    for (const method of ["dense", "static", "griffin", "random", "dart-paper", "dart"] as const) {
      const r = await f.client().completions.create({ model: MODEL, prompt: "Once upon a time", max_tokens: 24, temperature: 0, dart: { method, sparsity: 0.5 } } as OpenAI.CompletionCreateParamsNonStreaming);
      const d = (r as unknown as { dart: { method: string; effective_sparsity: number; dense_tokens: number } }).dart;
      // The same method and settings in this process: same text, same dense-token count and effective sparsity.
      const local = prunedCompletion("Once upon a time", parseDartSettings({ method, sparsity: 0.5 }), 24);
      expect(d.method).toBe(method);
      expect(r.choices[0]!.text, method).toBe(local.text);
      expect(d.dense_tokens, method).toBe(local.stats.denseTokens);
      expect(d.effective_sparsity, method).toBeCloseTo(local.stats.effectiveSparsity, 10);
      texts.push(local.text);
    }
    // The methods really differ at 0.5 (a node that ignored the method would answer one text for all).
    expect(new Set(texts).size).toBeGreaterThanOrEqual(4);
  });
});

describe("sessions", () => {
  it("answers 409 to a second request while the session is generating", async () => {
    const first = await chat("Once upon a time", { maxTokens: 4 });
    const session = extra(first).session_id;
    const stream = await f.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "The cat" }],
      max_tokens: 300,
      stream: true,
      session_id: session,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    const it = stream[Symbol.asyncIterator]();
    await it.next(); // generation is under way
    const err = await chat("The dog", { session }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.ConflictError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("session_busy");
    for (let r = await it.next(); !r.done; r = await it.next());
    // Once the first turn ends the session takes requests again.
    expect((await chat("The dog", { session })).choices[0]!.message.content).toBeTruthy();
  });

  it("stops generating at the node when the client aborts a stream, and keeps the session unchanged", async () => {
    const first = await chat("Once upon a time", { maxTokens: 4 });
    const session = extra(first).session_id;
    const stream = await f.client().chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "The little bird" }],
      max_tokens: 400,
      temperature: 1,
      seed: 7,
      stream: true,
      session_id: session,
    } as OpenAI.ChatCompletionCreateParamsStreaming);
    let received = 0;
    const startedAt = Date.now();
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) received++;
      if (received === 3) break; // leaving the loop aborts the request
    }
    // The node records an aborted turn well before 400 tokens at 4 ms each (1.6 s) could finish.
    let aborted;
    for (let t = 0; t < 50 && !aborted; t++) {
      await new Promise((r) => setTimeout(r, 100));
      const all = (await Promise.all(f.stack.nodes.map((n) => nodeTurns(n.url, f.stack.metricsToken)))).flat();
      aborted = all.find((r) => r.stopReason === "abort" && r.at >= startedAt);
    }
    expect(aborted).toBeDefined();
    expect(aborted!.completionTokens).toBeLessThan(200);
    const view = (await (await f.api(`/v1/sessions/${session}`)).json()) as { turns: number };
    expect(view.turns).toBe(1);
    // The lock is released: the next turn is accepted.
    expect((await chat("The end", { session, maxTokens: 4 })).usage!.completion_tokens).toBeGreaterThan(0);
  });

  it("DELETE of a session frees its KV cache on the node", async () => {
    const cacheEntries = async () => {
      const stats = await Promise.all(f.stack.nodes.map(async (n) => (await (await fetch(`${n.url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as { cache: { entries: number; bytes: number } }));
      return stats.reduce((a, x) => ({ entries: a.entries + x.cache.entries, bytes: a.bytes + x.cache.bytes }), { entries: 0, bytes: 0 });
    };
    const r = await chat("Once upon a time", { maxTokens: 4 });
    const session = extra(r).session_id;
    const before = await cacheEntries();
    expect(before.entries).toBeGreaterThan(0);
    const del = await f.api(`/v1/sessions/${session}`, { method: "DELETE" });
    expect(del.status).toBeLessThan(300);
    await del.body?.cancel();
    let after = before;
    for (let t = 0; t < 50 && after.entries === before.entries; t++) {
      await new Promise((res) => setTimeout(res, 100));
      after = await cacheEntries();
    }
    expect(after.entries).toBe(before.entries - 1);
    expect(after.bytes).toBeLessThan(before.bytes);
    expect((await f.api(`/v1/sessions/${session}`)).status).toBe(404);
  });

  it("accepts a prompt plus max_tokens of exactly the context length, and refuses one more", async () => {
    const prompt = "Once upon a time";
    const promptTokens = tok.encode(prompt, { bos: true }).length;
    const fits = await f.client().completions.create(dense({ model: MODEL, prompt, max_tokens: 512 - promptTokens, temperature: 0 }));
    expect(fits.usage!.prompt_tokens).toBe(promptTokens);
    expect(fits.usage!.prompt_tokens + fits.usage!.completion_tokens).toBeLessThanOrEqual(512);
    const over = await f.api(`/v1/completions`, { method: "POST", body: JSON.stringify({ model: MODEL, prompt, max_tokens: 513 - promptTokens, dart: { method: "dense" } }) });
    expect(over.status).toBe(400);
    const body = (await over.json()) as { error: { message: string; param: string | null } };
    expect(body.error.message).toMatch(/512/);
  });

  it("isolates sessions by API key: another key gets 404 and never the data", async () => {
    const r = await chat("Once upon a time", { maxTokens: 4 });
    const session = extra(r).session_id;
    expect((await f.api(`/v1/sessions/${session}`, {}, KEY_B)).status).toBe(404);
    const err = await chat("Hello", { session, key: KEY_B }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((await f.api(`/v1/sessions/${session}`, { method: "DELETE" }, KEY_B)).status).toBe(404);
    const mine = (await (await f.api(`/v1/sessions/${session}`)).json()) as { messages: unknown[] };
    expect(mine.messages).toHaveLength(2);
    // The owner can delete it; afterwards it is gone.
    expect((await f.api(`/v1/sessions/${session}`, { method: "DELETE" })).status).toBe(200);
    expect((await f.api(`/v1/sessions/${session}`)).status).toBe(404);
  });

  it("nodes refuse turns that do not come with the Session objects' token", async () => {
    const r = await fetch(`${f.stack.nodes[0]!.url}/v1/turn`, { method: "POST", body: "{}" });
    expect(r.status).toBe(401);
  });

  it("fails over when the session's node hangs (accepts connections, never answers)", async () => {
    const first = await chat("Once upon a time", { maxTokens: 4 });
    const session = extra(first).session_id;
    const probe = await f.client().chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "A" }], max_tokens: 2, session_id: session } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    const home = f.stack.nodes.find((n) => n.name === probe.response.headers.get("x-inference-node"))!;
    process.kill(home.pid, "SIGSTOP"); // a real hang: the kernel still accepts the TCP connection
    try {
      const t0 = Date.now();
      const { data, response } = await f.client().chat.completions
        .create({ model: MODEL, messages: [{ role: "user", content: "B" }], max_tokens: 2, session_id: session } as OpenAI.ChatCompletionCreateParamsNonStreaming)
        .withResponse();
      expect(response.headers.get("x-inference-node")).not.toBe(home.name);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2000); // NODE_TIMEOUT_MS spent on the hung node
      expect(data.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    } finally {
      process.kill(home.pid, "SIGCONT");
    }
  });

  it("fails over to the next node and replays the history when the session's node is down", async () => {
    const first = await chat("Once upon a time", { maxTokens: 8 });
    const session = extra(first).session_id;
    const { response } = await f.client().chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "The sun" }], max_tokens: 8, temperature: 0, session_id: session } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    const home = response.headers.get("x-inference-node")!;
    const node = f.stack.nodes.find((n) => n.name === home)!;
    expect(node).toBeDefined();
    await node.stop();
    const { data, response: r2 } = await f.client().chat.completions
      .create({ model: MODEL, messages: [{ role: "user", content: "The moon" }], max_tokens: 8, temperature: 0, session_id: session } as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(r2.headers.get("x-inference-node")).not.toBe(home);
    expect(data.usage!.prompt_tokens_details!.cached_tokens).toBe(0); // a cold node: the whole history was replayed
    const view = (await (await f.api(`/v1/sessions/${session}`)).json()) as { turns: number };
    expect(view.turns).toBe(3);
  });
});

describe("persistence", () => {
  it("keeps sessions across a restart of the whole stack", async () => {
    const first = await chat("Once upon a time", { maxTokens: 10 });
    const session = extra(first).session_id;
    const before = await (await f.api(`/v1/sessions/${session}`)).json();
    await f.restart();
    const after = await (await f.api(`/v1/sessions/${session}`)).json();
    expect(after).toEqual(before);
    const next = await chat("The end", { session, maxTokens: 4 });
    // Fresh nodes: the history is replayed from the Session object's token ids.
    expect(next.usage!.prompt_tokens).toBe(first.usage!.prompt_tokens + first.usage!.completion_tokens + userTokens("The end"));
    expect(next.usage!.prompt_tokens_details!.cached_tokens).toBe(0);
  });
});
