// The gateway Worker inside workerd: health, models, API keys, validation errors in OpenAI's
// shape, size and rate limits, routing errors. Generation goes to the real node from global setup.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { KEY, LIMITED_KEY, MAX_BODY_BYTES, RATE_LIMIT_PER_MINUTE } from "./keys.ts";

const MODEL = "stories260K";

function call(path: string, init: RequestInit & { key?: string | null } = {}) {
  const headers = new Headers(init.headers);
  if (init.key !== null) headers.set("authorization", `Bearer ${init.key ?? KEY}`);
  headers.set("content-type", "application/json");
  return SELF.fetch(`https://gateway.test${path}`, { ...init, headers });
}

const chat = (body: unknown, key?: string) => call("/v1/chat/completions", { method: "POST", body: typeof body === "string" ? body : JSON.stringify(body), key });

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function expectError(res: Response, status: number, param?: string | null, code?: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/application\/json/);
  const body = (await res.json()) as ErrorBody;
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(body.error.message.length).toBeGreaterThan(5);
  if (param !== undefined) expect(body.error.param).toBe(param);
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body.error;
}

describe("public routes", () => {
  it("GET /healthz needs no key", async () => {
    const r = await call("/healthz", { key: null });
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ok: true, model: MODEL });
  });

  it("GET /v1/models lists the served model", async () => {
    const r = await call("/v1/models");
    expect(await r.json()).toEqual({ object: "list", data: [{ id: MODEL, object: "model", created: 0, owned_by: "dart-edge" }] });
    await expectError(await call("/v1/models/gpt-4"), 404, "model", "model_not_found");
  });

  it("unknown routes are 404 in OpenAI's error shape", async () => {
    await expectError(await call("/v1/embeddings", { method: "POST", body: "{}" }), 404, null, "not_found");
  });
});

describe("API keys", () => {
  it("rejects a missing key and a wrong key with 401", async () => {
    await expectError(await call("/v1/models", { key: null }), 401, null, "missing_api_key");
    await expectError(await call("/v1/models", { key: "sk-nope" }), 401, null, "invalid_api_key");
    await expectError(await call("/v1/models", { key: null, headers: { authorization: "Basic abc" } }), 401);
  });
});

describe("request validation", () => {
  const ok = { model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 4 };
  const cases: [string, unknown, string | null, string?][] = [
    ["not JSON", "{nope", null, "invalid_json"],
    ["a JSON array", "[1]", null, "invalid_type"],
    ["no model", { messages: ok.messages }, "model", "missing_required_parameter"],
    ["no messages", { model: MODEL }, "messages", "missing_required_parameter"],
    ["empty messages", { ...ok, messages: [] }, "messages"],
    ["a bad role", { ...ok, messages: [{ role: "wizard", content: "x" }] }, "messages[0].role"],
    ["a non-text content part", { ...ok, messages: [{ role: "user", content: [{ type: "image_url", image_url: {} }] }] }, "messages[0].content[0]", "unsupported_content"],
    ["a numeric content", { ...ok, messages: [{ role: "user", content: 5 }] }, "messages[0].content"],
    ["max_tokens 0", { ...ok, max_tokens: 0 }, "max_tokens"],
    ["max_tokens fractional", { ...ok, max_tokens: 1.5 }, "max_tokens"],
    ["temperature 3", { ...ok, temperature: 3 }, "temperature"],
    ["top_p 0", { ...ok, top_p: 0 }, "top_p"],
    ["n 2", { ...ok, n: 2 }, "n"],
    ["stream a string", { ...ok, stream: "yes" }, "stream", "invalid_type"],
    ["stream_options without stream", { ...ok, stream_options: { include_usage: true } }, "stream_options"],
    ["an unknown field", { ...ok, functions: [] }, "functions", "unknown_parameter"],
    ["a bad session id", { ...ok, session_id: "../../etc" }, "session_id"],
    ["an unknown DART method", { ...ok, dart: { method: "magic" } }, "dart.method", "invalid_dart_settings"],
    ["a DART sparsity out of range", { ...ok, dart: { sparsity: 0.99 } }, "dart.sparsity", "invalid_dart_settings"],
    ["an unknown DART field", { ...ok, dart: { foo: 1 } }, "dart.foo", "invalid_dart_settings"],
    // Only the node knows the model's depth: its DartSettingsError must still come back as a 400.
    ["per-layer sparsities for the wrong number of layers", { ...ok, dart: { layerSparsity: [0.5] } }, "dart.layerSparsity", "invalid_dart_settings"],
  ];
  it.each(cases)("400 for %s", async (_name, body, param, code) => {
    await expectError(await chat(body), 400, param, code);
  });

  it("404 for a model this deployment does not serve", async () => {
    await expectError(await chat({ ...ok, model: "gpt-4o" }), 404, "model", "model_not_found");
  });

  it("404 for a session id that does not exist (never created on the fly)", async () => {
    await expectError(await chat({ ...ok, session_id: "sess_doesnotexist" }), 404, "session_id", "session_not_found");
    await expectError(await call("/v1/sessions/sess_doesnotexist"), 404, "session_id", "session_not_found");
  });

  it("400 when the body and header name different sessions", async () => {
    await expectError(await call("/v1/chat/completions", { method: "POST", body: JSON.stringify({ ...ok, session_id: "a" }), headers: { "x-session-id": "b" } }), 400, "session_id");
  });

  it("validates /v1/completions too", async () => {
    const r = await call("/v1/completions", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: 42 }) });
    await expectError(r, 400, "prompt");
    await expectError(await call("/v1/completions", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "x", echo: true }) }), 400, "echo");
  });
});

describe("limits", () => {
  it("413 for a body over MAX_BODY_BYTES, before the key is even checked", async () => {
    const big = JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "x".repeat(MAX_BODY_BYTES) }] });
    await expectError(await chat(big), 413, null, "request_too_large");
    await expectError(await call("/v1/chat/completions", { method: "POST", body: big, key: null }), 413);
  });

  it("429 with Retry-After once a key exceeds its rate; other keys are unaffected", async () => {
    // The bucket refills continuously (one request per 60/RATE s), so how many pass before the
    // first 429 depends on how fast this machine sends them: at least the bucket, at most the
    // bucket plus what refilled meanwhile. No timing assumption beyond that.
    const start = Date.now();
    let passed = 0;
    let limited: Response | null = null;
    for (let i = 0; i < 3 * RATE_LIMIT_PER_MINUTE && !limited; i++) {
      const r = await call("/v1/models", { key: LIMITED_KEY });
      if (r.status === 200) passed++;
      else limited = r;
    }
    const refilled = ((Date.now() - start) / 60_000) * RATE_LIMIT_PER_MINUTE;
    expect(limited, "no 429 within three times the rate").not.toBeNull();
    expect(passed).toBeGreaterThanOrEqual(RATE_LIMIT_PER_MINUTE);
    expect(passed).toBeLessThanOrEqual(RATE_LIMIT_PER_MINUTE + Math.ceil(refilled) + 1);
    expect(Number(limited!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(Number(limited!.headers.get("retry-after"))).toBeLessThanOrEqual(Math.ceil(60 / RATE_LIMIT_PER_MINUTE));
    await expectError(limited!, 429, null, "rate_limit_exceeded");
    expect((await call("/v1/models")).status).toBe(200);
  });
});

describe("generation through workerd and a real node", () => {
  it("completes a chat and a text completion in OpenAI's shape", async () => {
    const r = await chat({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 5, temperature: 0 });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { object: string; session_id: string; usage: { completion_tokens: number }; choices: { message: { content: string } }[] };
    expect(body.object).toBe("chat.completion");
    expect(body.usage.completion_tokens).toBe(5);
    expect(r.headers.get("x-session-id")).toBe(body.session_id);

    const c = await call("/v1/completions", { method: "POST", body: JSON.stringify({ model: MODEL, prompt: "Once upon a time", max_tokens: 5, temperature: 0 }) });
    const cb = (await c.json()) as { object: string; choices: { text: string }[] };
    expect(cb.object).toBe("text_completion");
    // Plain template: a chat message and a raw prompt give the same prompt tokens, hence the same greedy text.
    expect(cb.choices[0]!.text).toBe(body.choices[0]!.message.content);
  });

  it("400 context_length_exceeded when one message cannot fit the model's context", async () => {
    const r = await chat({ model: MODEL, messages: [{ role: "user", content: "word ".repeat(600) }], max_tokens: 4 });
    await expectError(r, 400, "messages", "context_length_exceeded");
  });
});
