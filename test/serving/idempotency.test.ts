// Idempotency-Key on the real stack with the official openai client: a retried turn (same key,
// same request) is answered from the stored turn and never runs again on a node, streamed or
// not, for sessions named or found by history; a retry while the first is still generating gets
// 409; the same key with another request is a 422; the answers go with their session.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { MAX_ANSWERS_PER_SESSION } from "../../shared/serving/protocol.ts";
import { MODEL, nodeTurns, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  // 10 ms per generated token: a 100-token turn is still running when its retry arrives.
  f = await startFixture({ nodes: 1, nodeWeights: "file", tokenDelayMs: 10 });
}, 300_000);
afterAll(async () => {
  await disposeFixtures();
});

const keyed = (key: string) => ({ headers: { "Idempotency-Key": key } });
const turnsRun = async () => (await nodeTurns(f.stack.nodes[0]!.url, f.stack.metricsToken)).length;
/** temperature 1 and no seed: a turn run twice would almost surely answer differently. */
const params = (content: string, extra: object = {}) =>
  ({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 24, temperature: 1, ...extra }) as OpenAI.ChatCompletionCreateParamsNonStreaming;

async function streamText(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<string> {
  let text = "";
  for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
  return text;
}

describe("Idempotency-Key", () => {
  it("answers a retried non-streamed turn from the stored one, without running it again", async () => {
    const key = `retry-${crypto.randomUUID()}`;
    const first = await f.client().chat.completions.create(params("Once upon a time"), keyed(key)).withResponse();
    const ran = await turnsRun();
    const again = await f.client().chat.completions.create(params("Once upon a time"), keyed(key)).withResponse();
    expect(await turnsRun()).toBe(ran);
    expect(again.data.choices[0]!.message.content).toBe(first.data.choices[0]!.message.content);
    expect(again.data.usage).toEqual(first.data.usage);
    expect(again.response.headers.get("idempotent-replayed")).toBe("true");
    expect(first.response.headers.get("idempotent-replayed")).toBeNull();
    const session = first.response.headers.get("x-session-id")!;
    expect(again.response.headers.get("x-session-id")).toBe(session);
    const view = (await (await f.api(`/v1/sessions/${session}`)).json()) as { turns: number; messages: unknown[] };
    expect(view.turns).toBe(1);
    expect(view.messages).toHaveLength(2);
    // Without the key the same request is a new turn.
    await f.client().chat.completions.create(params("Once upon a time"));
    expect(await turnsRun()).toBe(ran + 1);
  });

  it("answers a retried streamed turn with the same text, in a named session", async () => {
    const opening = await f.client().chat.completions.create(params("The little dog"));
    const session = (opening as unknown as { session_id: string }).session_id;
    const key = `stream-${crypto.randomUUID()}`;
    const body = { ...params("Then it rained", { session_id: session }), stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming;
    const first = await streamText(await f.client().chat.completions.create(body, keyed(key)));
    const ran = await turnsRun();
    const { data, response } = await f.client().chat.completions.create(body, keyed(key)).withResponse();
    expect(await streamText(data)).toBe(first);
    expect(first.length).toBeGreaterThan(0);
    expect(response.headers.get("idempotent-replayed")).toBe("true");
    expect(await turnsRun()).toBe(ran);
    const view = (await (await f.api(`/v1/sessions/${session}`)).json()) as { turns: number };
    expect(view.turns).toBe(2);
  });

  it("refuses the same key with a different request (422), and a malformed key (400)", async () => {
    const key = `conflict-${crypto.randomUUID()}`;
    await f.client().chat.completions.create(params("Once upon a time"), keyed(key));
    const ran = await turnsRun();
    const err = await f.client().chat.completions.create(params("A different story"), keyed(key)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.UnprocessableEntityError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("idempotency_key_reused");
    const bad = await f.client().chat.completions.create(params("Once upon a time"), keyed("has spaces in it")).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as InstanceType<typeof OpenAI.APIError>).code).toBe("invalid_idempotency_key");
    expect(await turnsRun()).toBe(ran);
  });

  it("answers 409 to a retry while the first attempt still generates, then the stored answer", async () => {
    const key = `inflight-${crypto.randomUUID()}`;
    const body = { ...params("Once upon a time", { max_tokens: 100 }), stream: true } as unknown as OpenAI.ChatCompletionCreateParamsStreaming;
    const stream = await f.client().chat.completions.create(body, keyed(key));
    const iterator = stream[Symbol.asyncIterator]();
    await iterator.next(); // the role chunk: the turn has started on the node
    const busy = await f.client().chat.completions.create(body, keyed(key)).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(OpenAI.ConflictError);
    expect((busy as InstanceType<typeof OpenAI.APIError>).code).toBe("idempotency_key_in_progress");
    expect((busy as InstanceType<typeof OpenAI.APIError>).headers?.get("retry-after")).toBeTruthy();
    let text = "";
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) text += r.value.choices[0]?.delta.content ?? "";
    const ran = await turnsRun();
    expect(await streamText(await f.client().chat.completions.create(body, keyed(key)))).toBe(text);
    expect(await turnsRun()).toBe(ran);
  });

  it("replays a Responses API turn too", async () => {
    const key = `responses-${crypto.randomUUID()}`;
    const req = { model: MODEL, input: "Once upon a time", max_output_tokens: 16, temperature: 1 };
    const first = await f.client().responses.create(req, keyed(key));
    const ran = await turnsRun();
    const again = await f.client().responses.create(req, keyed(key));
    expect(again.output_text).toBe(first.output_text);
    expect(again.id).toBe(first.id);
    expect(await turnsRun()).toBe(ran);
  });

  it(`keeps at most ${MAX_ANSWERS_PER_SESSION} answers per session: the oldest key runs again, the newest replays`, async () => {
    const opening = await f.client().chat.completions.create(params("Once upon a time", { max_tokens: 1 }));
    const session = (opening as unknown as { session_id: string }).session_id;
    const keys = Array.from({ length: MAX_ANSWERS_PER_SESSION + 1 }, (_, i) => `bound-${i}-${crypto.randomUUID()}`);
    const turn = (i: number) => f.client().chat.completions.create(params(`Turn ${i}`, { max_tokens: 1, session_id: session }), keyed(keys[i]!));
    for (let i = 0; i < keys.length; i++) await turn(i);
    const ran = await turnsRun();
    await turn(keys.length - 1);
    expect(await turnsRun()).toBe(ran);
    await turn(0);
    expect(await turnsRun()).toBe(ran + 1);
  });

  it("forgets a session's answers with the session: after DELETE the key runs a new turn", async () => {
    const key = `deleted-${crypto.randomUUID()}`;
    const first = await f.client().chat.completions.create(params("Once upon a time"), keyed(key)).withResponse();
    const session = first.response.headers.get("x-session-id")!;
    const del = await f.api(`/v1/sessions/${session}`, { method: "DELETE" });
    expect(del.status).toBe(200);
    const ran = await turnsRun();
    const again = await f.client().chat.completions.create(params("Once upon a time"), keyed(key)).withResponse();
    expect(await turnsRun()).toBe(ran + 1);
    expect(again.response.headers.get("x-session-id")).not.toBe(session);
    expect(again.response.headers.get("idempotent-replayed")).toBeNull();
  });
});
