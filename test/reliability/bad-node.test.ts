// Faults of a node that answers slowly or with garbage. The gateway and Session objects run
// for real in wrangler dev; the only node they know is a FAKE (fake-node.ts) in front of one
// real inference node: it forwards to the real node in "proxy" mode and misbehaves on demand.
// Turns are greedy (temperature 0): the same text every run, so a turn never ends on end-of-text
// before the fault the test stages (the fake passes the node's first events on).
// Every fault must give a clear OpenAI-style error within a bounded time, store nothing,
// release the session (no 409 afterwards), and the next turn must work.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { MODEL, startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";
import { startFakeNode, type FakeMode, type FakeNode } from "./fake-node.ts";
import { describeError, sessionView, streamTurn } from "./harness.ts";

const TIMEOUT_MS = 1500; // NODE_TIMEOUT_MS of this stack
const SLACK_MS = 8000; // scheduling on a loaded 2-core machine

let real: NodeProcess | undefined;
let fake: FakeNode | undefined;
let f: Fixture;
const logs: string[] = [];
/** Per fault: what the client got and after how long (printed at the end). */
const figures: { fault: string; answer: string; ms: number }[] = [];

beforeAll(async () => {
  const token = randomBytes(16).toString("hex");
  real = await startNode("real-node", { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" }, (l) => logs.push(l), token);
  fake = await startFakeNode(real.url);
  f = await startFixture({ nodes: 0, vars: { NODES: fake.url, NODE_TOKEN: token, NODE_TIMEOUT_MS: String(TIMEOUT_MS) } });
}, 180_000);
afterAll(async () => {
  if (figures.length) console.log(`[reliability] misbehaving node (NODE_TIMEOUT_MS ${TIMEOUT_MS}):\n${figures.map((x) => `  ${x.fault.padEnd(36)} ${x.answer.padEnd(28)} ${x.ms} ms`).join("\n")}`);
  await disposeFixtures();
  await fake?.close();
  await real?.stop();
});

async function newSession(): Promise<{ id: string; assistant: string }> {
  fake!.mode = "proxy";
  const r = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 4, temperature: 0 });
  return { id: (r as unknown as { session_id: string }).session_id, assistant: r.choices[0]!.message.content ?? "" };
}

/** After a fault: nothing stored, the session takes the next turn, and its history is what the client saw. */
async function expectRecovered(id: string, before: { assistant: string }) {
  fake!.mode = "proxy";
  const view = await sessionView(f, id);
  expect(view.turns).toBe(1);
  expect(view.messages.map((m) => m.content)).toEqual(["Once upon a time", before.assistant]);
  const next = await streamTurn(f.client(), "The end", { session: id, maxTokens: 3 });
  expect(next.error).toBeNull();
  const after = await sessionView(f, id);
  expect(after.turns).toBe(2);
  expect(after.messages.map((m) => m.content)).toEqual(["Once upon a time", before.assistant, "The end", next.text]);
}

function expectOpenAIError(e: unknown, code: string, status?: number) {
  expect(e, `expected an APIError ${code}`).toBeInstanceOf(OpenAI.APIError);
  const err = e as InstanceType<typeof OpenAI.APIError>;
  if (status !== undefined) expect(err.status).toBe(status);
  expect(err.code).toBe(code);
  const body = err.error as { message?: unknown; type?: unknown };
  expect(typeof body.message).toBe("string");
  expect(typeof body.type).toBe("string");
}

// Faults before the turn starts: the request itself answers with an error status.
const BEFORE_START: [FakeMode, number, string][] = [
  ["hang", 503, "nodes_unavailable"],
  ["reset", 503, "nodes_unavailable"],
  ["html-500", 503, "nodes_unavailable"],
  ["headers-then-stall", 504, "node_timeout"],
  ["garbage", 502, "bad_node_response"],
  ["wrong-shape", 502, "bad_node_response"],
  ["html-400", 502, "bad_node_response"],
  // The client's key is fine: a node refusing the Session objects' token is a server fault, not a 401.
  ["json-401", 502, "bad_node_response"],
];

describe("a node that fails before the turn starts", () => {
  for (const [mode, status, code] of BEFORE_START) {
    for (const stream of [false, true]) {
      it(`${mode} (${stream ? "streamed" : "not streamed"}): ${status} ${code} in bounded time, session unharmed`, async () => {
        const s = await newSession();
        fake!.mode = mode;
        const t0 = Date.now();
        const err = await f
          .client()
          .chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Then" }], max_tokens: 4, temperature: 0, stream, session_id: s.id } as OpenAI.ChatCompletionCreateParamsNonStreaming)
          .then(async (r) => {
            if (stream) for await (const _ of r as unknown as AsyncIterable<unknown>);
            return null;
          })
          .catch((e: unknown) => e);
        const elapsed = Date.now() - t0;
        figures.push({ fault: `${mode}${stream ? " (streamed)" : ""}`, answer: describeError(err).split(" ").slice(0, 2).join(" "), ms: elapsed });
        expectOpenAIError(err, code, status);
        expect(elapsed).toBeLessThan(TIMEOUT_MS + SLACK_MS);
        if (mode === "hang" || mode === "headers-then-stall") expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS);
        await expectRecovered(s.id, s);
      });
    }
  }
});

// Faults after the turn started: a stream reports them in-band; a plain request with its status.
const AFTER_START: [FakeMode, number, string][] = [
  ["garbage-after-start", 502, "node_failed"],
  ["truncate-after-start", 502, "node_failed"],
  ["stall-after-start", 504, "node_timeout"],
];

describe("a node that fails in the middle of a turn", () => {
  for (const [mode, status, code] of AFTER_START) {
    it(`${mode} (streamed): in-band error ${code}, nothing stored, next turn works`, async () => {
      const s = await newSession();
      fake!.mode = mode;
      const r = await streamTurn(f.client(), "Then", { session: s.id, maxTokens: 40, temperature: 0 });
      figures.push({ fault: `${mode} (streamed)`, answer: describeError(r.error).split(" ").slice(0, 2).join(" "), ms: Math.round(r.totalMs) });
      expectOpenAIError(r.error, code);
      expect(r.totalMs).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      if (mode === "stall-after-start") expect(r.totalMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
      await expectRecovered(s.id, s);
    });

    it(`${mode} (not streamed): ${status} ${code}, nothing stored, next turn works`, async () => {
      const s = await newSession();
      fake!.mode = mode;
      const t0 = Date.now();
      const err = await f
        .client()
        .chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Then" }], max_tokens: 40, temperature: 0, session_id: s.id } as OpenAI.ChatCompletionCreateParamsNonStreaming)
        .catch((e: unknown) => e);
      figures.push({ fault: mode, answer: describeError(err).split(" ").slice(0, 2).join(" "), ms: Date.now() - t0 });
      expectOpenAIError(err, code, status);
      expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS + SLACK_MS);
      await expectRecovered(s.id, s);
    });
  }
});

describe("a slow node", () => {
  it("events that each arrive within NODE_TIMEOUT_MS complete the turn even when the whole turn takes longer", async () => {
    const s = await newSession();
    fake!.mode = "trickle";
    fake!.trickleMs = Math.round(TIMEOUT_MS * 0.4);
    const r = await streamTurn(f.client(), "Then", { session: s.id, maxTokens: 6, temperature: 0 });
    fake!.mode = "proxy";
    figures.push({ fault: `trickle ${fake!.trickleMs} ms/event (streamed)`, answer: r.error ? describeError(r.error) : "completed", ms: Math.round(r.totalMs) });
    expect(r.error).toBeNull();
    expect(r.totalMs).toBeGreaterThan(TIMEOUT_MS * 1.5); // ~8 events x 600 ms
    const view = await sessionView(f, s.id);
    expect(view.messages.map((m) => m.content)).toEqual(["Once upon a time", s.assistant, "Then", r.text]);
  });
});
