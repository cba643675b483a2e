// POST /v1/responses with the official openai client's client.responses.create, through the
// real stack: text, instructions, max_output_tokens, previous_response_id chains on one session
// (KV cache and DART state follow the chain), streaming events, stateless resends, refusals.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { generateFromIds } from "../../shared/engine/generate.ts";
import { stories } from "../helpers/model-dir.ts";
import { KEY_B, MODEL, startFixture, type Fixture } from "./stack-fixture.ts";

const { tf, tok } = stories();
let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, nodeWeights: "file" });
}, 180_000);
afterAll(async () => {
  await f?.dispose();
});

type Extra = { session_id: string };
const sessionOf = (r: unknown) => (r as Extra).session_id;
const create = (params: Record<string, unknown>, key?: string) =>
  f.client(key).responses.create({ model: MODEL, temperature: 0, ...params } as OpenAI.Responses.ResponseCreateParamsNonStreaming);

/** The engine's greedy answer to messages rendered by the plain template (each message its own segment). */
function expected(segments: string[], maxTokens: number) {
  const ids = [tok.bosId, ...segments.flatMap((s) => tok.encode(s, { bos: false }))];
  return generateFromIds(tf, tok, ids, tf.newState(), { maxTokens, temperature: 0 });
}

describe("client.responses.create", () => {
  it("answers input + instructions with one output_text message, usage in the Responses shape", async () => {
    const r = await create({ instructions: "Lily liked cats.", input: "Once upon a time", max_output_tokens: 20, dart: { method: "dense" } });
    const want = expected(["Lily liked cats.", "Once upon a time"], 20);
    expect(r.object).toBe("response");
    expect(r.id).toMatch(/^resp_1_sess_[0-9a-f]{32}$/);
    expect(r.output_text).toBe(want.completion);
    expect(r.output[0]).toMatchObject({ type: "message", role: "assistant", content: [{ type: "output_text", text: want.completion }] });
    expect(r.status).toBe("incomplete");
    expect(r.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(r.usage).toMatchObject({ input_tokens: want.promptIds.length, output_tokens: 20, total_tokens: want.promptIds.length + 20 });
    expect(r.instructions).toBe("Lily liked cats.");
  });

  it("chains previous_response_id on one session: KV cache reused, DART state carried, turns stored", async () => {
    const r1 = await create({ input: "Once upon a time", max_output_tokens: 12 });
    const r2 = await create({ input: "The dog ran to the park.", previous_response_id: r1.id, max_output_tokens: 12 });
    const r3 = await create({ input: [{ role: "user", content: [{ type: "input_text", text: "Then it rained." }] }], previous_response_id: r2.id, max_output_tokens: 12 });
    expect(new Set([r1, r2, r3].map(sessionOf)).size).toBe(1);
    expect(r2.previous_response_id).toBe(r1.id);
    for (const [prev, next] of [[r1, r2], [r2, r3]] as const) {
      // Everything before except the last generated token of a length stop was in the KV cache.
      const prevContext = prev.usage!.input_tokens + prev.usage!.output_tokens - 1;
      expect(next.usage!.input_tokens_details.cached_tokens).toBe(prevContext);
    }
    const view = (await (await f.api(`/v1/sessions/${sessionOf(r1)}`)).json()) as { turns: number; messages: { role: string; content: string }[]; dart: { events: { turn: number }[] } };
    expect(view.turns).toBe(3);
    expect(view.messages.map((m) => m.content)).toEqual(["Once upon a time", r1.output_text, "The dog ran to the park.", r2.output_text, "Then it rained.", r3.output_text]);
    // The default method (dart) traced turn 1 and kept its state: later turns record events on the same session.
    expect(view.dart.events.some((e) => e.turn === 1)).toBe(true);
  });

  it("instructions repeated along a chain are stored once; changed instructions are added", async () => {
    const r1 = await create({ instructions: "Be kind.", input: "Once upon a time", max_output_tokens: 4 });
    const r2 = await create({ instructions: "Be kind.", input: "More.", previous_response_id: r1.id, max_output_tokens: 4 });
    await create({ instructions: "Be brief.", input: "End.", previous_response_id: r2.id, max_output_tokens: 4 });
    const view = (await (await f.api(`/v1/sessions/${sessionOf(r1)}`)).json()) as { messages: { role: string; content: string }[] };
    expect(view.messages.filter((m) => m.role === "system").map((m) => m.content)).toEqual(["Be kind.", "Be brief."]);
    expect(view.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "user", "assistant", "system", "user", "assistant"]);
  });

  it("refuses a previous_response_id that is not the latest of its chain (400), unknown or another key's (404)", async () => {
    const r1 = await create({ input: "Once upon a time", max_output_tokens: 4 });
    await create({ input: "More.", previous_response_id: r1.id, max_output_tokens: 4 });
    const older = await create({ input: "Again.", previous_response_id: r1.id }).catch((e: unknown) => e);
    expect(older).toBeInstanceOf(OpenAI.BadRequestError);
    expect((older as InstanceType<typeof OpenAI.APIError>).param).toBe("previous_response_id");
    const other = await create({ input: "Mine?", previous_response_id: r1.id }, KEY_B).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(OpenAI.NotFoundError);
    const unknown = await create({ input: "x", previous_response_id: "resp_1_sess_nope" }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as InstanceType<typeof OpenAI.APIError>).param).toBe("previous_response_id");
  });

  it("streams the Responses event sequence; the deltas add up to the final text", async () => {
    const stream = await f.client().responses.create({ model: MODEL, input: "Once upon a time", max_output_tokens: 16, temperature: 0, stream: true, dart: { method: "dense" } } as OpenAI.Responses.ResponseCreateParamsStreaming);
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const e of stream) events.push(e);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]);
    expect(types.slice(-4)).toEqual(["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.incomplete"]);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const deltas = events.filter((e): e is OpenAI.Responses.ResponseTextDeltaEvent => e.type === "response.output_text.delta").map((e) => e.delta);
    const want = expected(["Once upon a time"], 16).completion;
    expect(deltas.join("")).toBe(want);
    const last = events.at(-1) as OpenAI.Responses.ResponseIncompleteEvent;
    expect(last.response.output_text ?? (last.response.output[0] as OpenAI.Responses.ResponseOutputMessage).content[0]).toBeTruthy();
    expect(last.response.usage!.output_tokens).toBe(16);
  });

  it("a stateless client (store: false, the whole history as input) continues its session", async () => {
    const input: { role: "user" | "assistant"; content: string }[] = [{ role: "user", content: "Once upon a time" }];
    const a = await create({ input, store: false, max_output_tokens: 8 });
    input.push({ role: "assistant", content: a.output_text }, { role: "user", content: "The cat sat." });
    const b = await create({ input, store: false, max_output_tokens: 8 });
    expect(sessionOf(b)).toBe(sessionOf(a));
    // Everything of turn 1 was cached (but its last token when it stopped at the length limit).
    expect(b.usage!.input_tokens_details.cached_tokens).toBe(a.usage!.input_tokens + a.usage!.output_tokens - (a.status === "incomplete" ? 1 : 0));
  });

  it.each([
    ["text.format json_object", { text: { format: { type: "json_object" } } }, "text.format"],
    ["non-empty tools", { tools: [{ type: "function", name: "f", parameters: {} }] }, "tools"],
    ["reasoning", { reasoning: { effort: "low" } }, "reasoning"],
    ["a function_call input item", { input: [{ type: "function_call_output", call_id: "c", output: "x" }] }, "input[0].type"],
  ])("400 naming the field for %s", async (_n, extra, param) => {
    const err = await create({ input: "Hi", ...extra }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.APIError>).param).toBe(param);
  });
});
