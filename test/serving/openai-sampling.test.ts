// Sampling and output controls end to end (the official openai client -> gateway in workerd ->
// Session object -> a real node on stories260K): stop, penalties, logit_bias, logprobs, the
// harmless fields accepted as no-ops, and the refusals. Expected text comes from the engine run
// in this process (dense sessions, greedy), whose maths test/engine/logit-controls.test.ts checks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { generate } from "../../shared/engine/generate.ts";
import { stories } from "../helpers/model-dir.ts";
import { MODEL, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

const { tf, tok } = stories();
const PROMPT = "Once upon a time";
const dense = { dart: { method: "dense" } };
const plain = generate(tf, tok, PROMPT, { maxTokens: 30, temperature: 0 });
// A stop string taken from the middle of the model's own greedy answer.
const STOP = plain.completion.slice(20, 24);
const cut = plain.completion.indexOf(STOP);

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, nodeWeights: "file" });
}, 120_000);
afterAll(async () => {
  await disposeFixtures();
});

type ChatParams = OpenAI.ChatCompletionCreateParamsNonStreaming;
const chat = (extra: Record<string, unknown>) =>
  f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: PROMPT }], max_tokens: 30, temperature: 0, ...dense, ...extra } as ChatParams);

describe("stop", () => {
  it("cuts the answer before the first stop sequence, finish_reason stop (non-streaming)", async () => {
    expect(cut).toBeGreaterThan(0);
    const r = await chat({ stop: ["zzzz", STOP] });
    expect(r.choices[0]!.message.content).toBe(plain.completion.slice(0, cut));
    expect(r.choices[0]!.finish_reason).toBe("stop");
    const one = await chat({ stop: STOP });
    expect(one.choices[0]!.message.content).toBe(plain.completion.slice(0, cut));
  });

  it("streams the same text, never a byte of the stop sequence, and ends with finish_reason stop", async () => {
    const stream = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: PROMPT }], max_tokens: 30, temperature: 0, stream: true, stop: [STOP], ...dense } as OpenAI.ChatCompletionCreateParamsStreaming);
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toBe(plain.completion.slice(0, cut));
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("stop");
  });

  it("works on /v1/completions too", async () => {
    const r = await f.client().completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 30, temperature: 0, stop: [STOP], ...dense } as OpenAI.CompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.text).toBe(plain.completion.slice(0, cut));
    expect(r.choices[0]!.finish_reason).toBe("stop");
  });
});

describe("penalties and logit_bias", () => {
  it("reach the sampler: the answer is the engine's under the same controls, and differs without them", async () => {
    const controls = { frequencyPenalty: 1.5, presencePenalty: 0.5, logitBias: { [String(plain.tokens[2])]: -100 } };
    const r = await chat({ frequency_penalty: 1.5, presence_penalty: 0.5, logit_bias: controls.logitBias });
    const want = generate(tf, tok, PROMPT, { maxTokens: 30, temperature: 0, logitControls: controls });
    expect(r.choices[0]!.message.content).toBe(want.completion);
    expect(want.completion).not.toBe(plain.completion);
  });

  it("accepts zero penalties (what clients send by default) with the plain answer", async () => {
    const r = await chat({ frequency_penalty: 0, presence_penalty: 0, logit_bias: {} });
    expect(r.choices[0]!.message.content).toBe(plain.completion);
  });
});

describe("logprobs", () => {
  it("chat, non-streaming: one entry per generated token with top_logprobs, in OpenAI's shape", async () => {
    const r = await chat({ logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    expect(content).toHaveLength(r.usage!.completion_tokens);
    expect(content.map((c) => c.token).join("")).toBe(r.choices[0]!.message.content);
    for (const c of content) {
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.top_logprobs[0]!.token).toBe(c.token); // greedy: the chosen token is the most likely
      expect(Buffer.from(c.bytes!).toString("utf8")).toBe(c.token);
    }
    expect((await chat({})).choices[0]!.logprobs).toBeNull();
  });

  it("chat, streaming: each chunk carries the logprobs of the tokens whose text it carries", async () => {
    const stream = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: PROMPT }], max_tokens: 30, temperature: 0, stream: true, logprobs: true, top_logprobs: 2, stop: STOP, ...dense } as OpenAI.ChatCompletionCreateParamsStreaming);
    let text = "";
    let tokens = "";
    for await (const c of stream) {
      const ch = c.choices[0];
      if (!ch?.delta.content) continue;
      text += ch.delta.content;
      tokens += ch.logprobs!.content!.map((x) => x.token).join("");
      // A chunk's tokens begin where its text begins (a token may reach into held-back text).
      expect(tokens.length).toBeGreaterThanOrEqual(text.length);
    }
    expect(text).toBe(plain.completion.slice(0, cut));
    // The tokens reported are exactly those whose text starts before the stop sequence.
    expect(tokens.startsWith(text)).toBe(true);
    expect(tokens.length - text.length).toBeLessThan(STOP.length + 8);
  });

  it("completions: logprobs as an integer gives tokens, token_logprobs, top_logprobs, text_offset", async () => {
    const r = await f.client().completions.create({ model: MODEL, prompt: PROMPT, max_tokens: 10, temperature: 0, logprobs: 2, ...dense } as OpenAI.CompletionCreateParamsNonStreaming);
    const lp = r.choices[0]!.logprobs!;
    expect(lp.tokens!.join("")).toBe(r.choices[0]!.text);
    expect(lp.token_logprobs).toHaveLength(10);
    expect(lp.top_logprobs!.every((t) => Object.keys(t).length === 2)).toBe(true);
    expect(lp.text_offset).toEqual(lp.tokens!.map((_, i) => lp.tokens!.slice(0, i).join("").length));
  });
});

describe("fields clients send by default", () => {
  it("accepts the harmless ones as no-ops: same answer as without them", async () => {
    const r = await chat({
      response_format: { type: "text" },
      tools: [],
      tool_choice: "none",
      parallel_tool_calls: false,
      service_tier: "auto",
      store: false,
      metadata: { app: "test" },
      user: "u-1",
      n: 1,
    });
    expect(r.choices[0]!.message.content).toBe(plain.completion);
  });

  const refused: [string, Record<string, unknown>, string][] = [
    ["response_format json_object", { response_format: { type: "json_object" } }, "response_format"],
    ["response_format json_schema", { response_format: { type: "json_schema", json_schema: { name: "x", schema: {} } } }, "response_format"],
    ["non-empty tools", { tools: [{ type: "function", function: { name: "f", parameters: {} } }] }, "tools"],
    ["tool_choice required", { tool_choice: "required" }, "tool_choice"],
    ["n 2", { n: 2 }, "n"],
    ["5 stop sequences", { stop: ["a", "b", "c", "d", "e"] }, "stop"],
    ["an empty stop sequence", { stop: [""] }, "stop"],
    ["frequency_penalty 2.5", { frequency_penalty: 2.5 }, "frequency_penalty"],
    ["a logit_bias of 101", { logit_bias: { "5": 101 } }, "logit_bias"],
    ["a logit_bias key that is no token id", { logit_bias: { x: 1 } }, "logit_bias"],
    ["a logit_bias token outside the vocabulary", { logit_bias: { "512": 1 } }, "logit_bias"],
    ["top_logprobs 21", { logprobs: true, top_logprobs: 21 }, "top_logprobs"],
    ["top_logprobs without logprobs", { top_logprobs: 2 }, "top_logprobs"],
  ];
  it.each(refused)("400 naming the field for %s", async (_name, extra, param) => {
    const err = await chat(extra).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe(param);
    expect((err as InstanceType<typeof OpenAI.APIError>).message.length).toBeGreaterThan(10);
  });
});
