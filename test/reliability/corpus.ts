// A generated corpus of malformed requests, each with the 4xx it must get. Expected statuses
// follow the API contract (README "Errors"): 400 malformed input, 401 bad key, 404 unknown
// model/session/route, 413 body too large, 431 header fields too large.
import type { RawRequest } from "./raw-http.ts";

export interface Case {
  name: string;
  category: string;
  /** A request to encode, or the exact bytes to send. */
  req: RawRequest | Buffer;
  /** Acceptable statuses. */
  status: number[];
  /** The error code it must carry, when the contract names one. */
  code?: string;
  /** The param it must name, when the contract names one. */
  param?: string;
  /**
   * Refused by workerd's HTTP parser before any Worker code runs (malformed framing, a URI or
   * header block beyond workerd's own limits): a plain-text 4xx, not an OpenAI error object.
   * Only the status and the absence of secrets are checked.
   */
  httpLayer?: boolean;
}

export interface CorpusContext {
  model: string;
  keyA: string;
  keyB: string;
  /** A session of key A holding a secret. */
  sessionA: string;
  /** Body size limit of the stack (MAX_BODY_BYTES). */
  maxBody: number;
}

const CHAT = "/v1/chat/completions";
const COMPLETIONS = "/v1/completions";
const RESPONSES = "/v1/responses";

export function buildCorpus(c: CorpusContext): Case[] {
  const cases: Case[] = [];
  const auth = (key = c.keyA) => `Authorization: Bearer ${key}`;
  const json = "Content-Type: application/json";
  const okChat = { model: c.model, messages: [{ role: "user", content: "Hi" }], max_tokens: 2 };
  const okCompletion = { model: c.model, prompt: "Hi", max_tokens: 2 };
  const post = (path: string, body: string | Buffer, extra: (string | Buffer)[] = [], key = c.keyA): RawRequest => ({ method: "POST", path, headers: [auth(key), json, ...extra], body });
  const add = (category: string, name: string, req: RawRequest | Buffer, status: number[], code?: string, param?: string) => cases.push({ category, name, req, status, code, param });
  const addHttp = (category: string, name: string, req: RawRequest | Buffer, status: number[]) => cases.push({ category, name, req, status, httpLayer: true });

  // --- invalid JSON ---
  const invalid = ["", " ", "{", "}", "[", "nul", "tru", "{'model': 'x'}", '{"model": "stories260K",}', '{"model": NaN}', "{/* c */}", '{"a":1}{"b":2}', "\u0000", "undefined", '{"model":"stories260K" "max_tokens":2}', "{\"model\":\"\\x41\"}", '{"model":"\\ud800"', "<xml/>"];
  for (const [i, body] of invalid.entries()) {
    add("invalid JSON", `chat body #${i} ${JSON.stringify(body).slice(0, 30)}`, post(CHAT, body), [400], "invalid_json");
  }
  for (const [i, body] of invalid.slice(0, 6).entries()) add("invalid JSON", `completions body #${i}`, post(COMPLETIONS, body), [400], "invalid_json");
  const full = JSON.stringify(okChat);
  for (let cut = 1; cut < full.length; cut += 4) add("invalid JSON", `chat body truncated at ${cut}`, post(CHAT, full.slice(0, cut)), [400], "invalid_json");

  // --- JSON that is not an object ---
  for (const body of ["null", "1", '"text"', "[]", "true", "[{}]"]) add("wrong types", `top-level ${body}`, post(CHAT, body), [400], "invalid_type");

  // --- wrong types and out-of-range values, one field at a time ---
  const wrong: [string, unknown[], string?][] = [
    ["model", [1, true, [], {}, ""]],
    ["messages", ["hi", 1, {}, [], [1], ["hi"], [{}], [null], [{ role: "user" }], [{ role: "robot", content: "x" }], [{ role: 1, content: "x" }], [{ role: "user", content: 1 }], [{ role: "user", content: [{ type: "image_url", image_url: { url: "http://127.0.0.1/x" } }] }], [{ role: "user", content: [{ type: "text" }] }], [{ role: "user", content: "x", extra: 1 }]]],
    ["max_tokens", ["8", 1.5, 0, -1, -100, -0.5, true, [], {}, 1e9, 2 ** 53, 1e308, 2 ** 20 + 1, -(2 ** 31)]],
    ["max_completion_tokens", [-1, 0, "x", 1e12]],
    ["temperature", [-0.1, 2.1, "1", true, [], 1e308]],
    ["top_p", [0, 1.1, -1, "0.5"]],
    ["seed", [1.5, "1", 2 ** 31, -(2 ** 31) - 1]],
    ["n", [2, 0, "1", 1.5]],
    ["stream", ["true", 1, {}]],
    ["session_id", [1, true, [], {}, "", "a b", "../x", "a/b", "x".repeat(129), "é", "sess\r\nX-Owner: y", "a\u0000b", "a.b", "%2e%2e", "sess?x=1"]],
    ["dart", ["dart", 1, [], { method: "nope" }, { sparsity: 2 }, { sparsity: -1 }, { maskingStep: -3 }, { unknown: 1 }, { budget: "x" }, { ranking: "x" }]],
  ];
  for (const [field, values] of wrong) {
    for (const v of values) {
      const body = { ...okChat, [field]: v };
      const status = field === "session_id" || field === "model" ? [400] : [400];
      add("wrong types", `chat ${field} = ${JSON.stringify(v).slice(0, 40)}`, post(CHAT, JSON.stringify(body)), status, undefined, field === "messages" || field === "dart" ? undefined : field);
    }
  }
  // Raw numbers JSON.stringify cannot write.
  for (const n of ["1e400", "-1e400", "-0", "1E+2.5", "0x10", "Infinity"]) {
    const body = `{"model":"${c.model}","messages":[{"role":"user","content":"Hi"}],"max_tokens":${n}}`;
    add("max_tokens", `max_tokens ${n}`, post(CHAT, body), [400], n === "1E+2.5" || n === "0x10" || n === "Infinity" ? "invalid_json" : undefined);
  }
  add("wrong types", "stream_options without stream", post(CHAT, JSON.stringify({ ...okChat, stream_options: { include_usage: true } })), [400], undefined, "stream_options");
  for (const so of ["x", { include_usage: "yes" }, { unknown: 1 }]) add("wrong types", `stream_options ${JSON.stringify(so)}`, post(CHAT, JSON.stringify({ ...okChat, stream: true, stream_options: so })), [400]);
  for (const p of [1, [], ["a", "b"], [1], {}, null, true]) add("wrong types", `completions prompt ${JSON.stringify(p)}`, post(COMPLETIONS, JSON.stringify({ ...okCompletion, prompt: p })), [400], undefined, "prompt");
  add("wrong types", "completions echo", post(COMPLETIONS, JSON.stringify({ ...okCompletion, echo: true })), [400], undefined, "echo");
  add("wrong types", "completions suffix", post(COMPLETIONS, JSON.stringify({ ...okCompletion, suffix: "x" })), [400], undefined, "suffix");
  add("wrong types", "completions with messages", post(COMPLETIONS, JSON.stringify({ ...okCompletion, messages: okChat.messages })), [400], "unknown_parameter", "messages");
  add("wrong types", "chat with prompt", post(CHAT, JSON.stringify({ ...okChat, prompt: "x" })), [400], "unknown_parameter", "prompt");
  add("wrong types", "unknown model", post(CHAT, JSON.stringify({ ...okChat, model: "gpt-4o" })), [404], "model_not_found");
  add("wrong types", "model with a NUL", post(CHAT, JSON.stringify({ ...okChat, model: `${c.model}\u0000` })), [404], "model_not_found");

  // Known OpenAI fields with a wrong shape: a 400 naming the field.
  for (const k of ["tools", "logit_bias", "frequency_penalty", "response_format", "stop", "metadata"]) {
    const body = `{"model":"${c.model}","messages":[{"role":"user","content":"Hi"}],"max_tokens":2,${JSON.stringify(k)}:{"owner":7}}`;
    add("wrong types", `chat field ${k}`, post(CHAT, body), [400], undefined, k);
  }

  // --- unknown fields (rejected like OpenAI does), including prototype keys and internal names ---
  const unknown = ["functions", "sampling", "continueAfter", "previousTurn", "instructions", "__proto__", "constructor", "prototype", "owner", "sessionId", "create", "dartDefaults", "", "x".repeat(1000), "MODEL"];
  for (const k of unknown) {
    const body = `{"model":"${c.model}","messages":[{"role":"user","content":"Hi"}],"max_tokens":2,${JSON.stringify(k)}:{"owner":"x"}}`;
    add("unknown fields", `chat field ${JSON.stringify(k).slice(0, 24)}`, post(CHAT, body), [400], "unknown_parameter");
  }
  add("unknown fields", "completions field best_of", post(COMPLETIONS, JSON.stringify({ ...okCompletion, best_of: 2 })), [400], "unknown_parameter");
  add("wrong types", "responses without input", post(RESPONSES, JSON.stringify({ model: c.model })), [400], "missing_required_parameter", "input");
  add("wrong types", "responses with a forged previous_response_id", post(RESPONSES, JSON.stringify({ model: c.model, input: "Hi", previous_response_id: "resp_1_../../x" })), [400], undefined, "previous_response_id");
  add("wrong types", "responses with a function call item", post(RESPONSES, JSON.stringify({ model: c.model, input: [{ type: "function_call", name: "f", arguments: "{}", call_id: "c" }] })), [400], "unsupported_content", "input[0].type");
  add("unknown fields", "responses field messages", post(RESPONSES, JSON.stringify({ model: c.model, input: "Hi", messages: [] })), [400], "unknown_parameter");
  add("unknown fields", "unknown field in a message", post(CHAT, JSON.stringify({ ...okChat, messages: [{ role: "user", content: "x", tool_calls: [] }] })), [400], "unknown_parameter");

  // --- huge bodies ---
  const over = c.maxBody + 1;
  const bigContent = (n: number) => JSON.stringify({ ...okChat, messages: [{ role: "user", content: "a".repeat(n) }] });
  add("huge bodies", "one byte over the limit", post(CHAT, bigContent(over)), [413], "request_too_large");
  add("huge bodies", "4x the limit", post(CHAT, bigContent(4 * c.maxBody)), [413], "request_too_large");
  add("huge bodies", "4x the limit, chunked (no Content-Length)", { ...post(CHAT, bigContent(4 * c.maxBody)), chunked: true }, [413], "request_too_large");
  add("huge bodies", "whitespace 2x the limit", post(CHAT, " ".repeat(2 * c.maxBody)), [413], "request_too_large");
  add("huge bodies", "completions over the limit", post(COMPLETIONS, JSON.stringify({ ...okCompletion, prompt: "b".repeat(over) })), [413], "request_too_large");
  // Under the byte limit but beyond the model's context: the node refuses it, quickly.
  add("huge bodies", "content under the limit but beyond the context", post(CHAT, bigContent(Math.floor(c.maxBody / 20))), [400], "context_length_exceeded");
  // More messages than one request may carry (MAX_MESSAGES_PER_REQUEST, default 256).
  add("huge bodies", "1500 messages", post(CHAT, JSON.stringify({ ...okChat, messages: Array.from({ length: 1500 }, () => ({ role: "user", content: "a" })) })), [400], "too_many_messages");
  // Under that cap, but more tokens than the model's context.
  add("huge bodies", "200 long messages", post(CHAT, JSON.stringify({ ...okChat, messages: Array.from({ length: 200 }, () => ({ role: "user", content: "a long story about a dog" })) })), [400], "context_length_exceeded");
  add("huge bodies", "deeply nested array", post(CHAT, "[".repeat(c.maxBody / 3) + "]".repeat(c.maxBody / 3)), [400], "invalid_type");
  add("huge bodies", "deeply nested content", post(CHAT, `{"model":"${c.model}","messages":[{"role":"user","content":${"[".repeat(c.maxBody / 3)}${"]".repeat(c.maxBody / 3)}}]}`), [400]);

  // --- invalid UTF-8 (raw bytes) ---
  const badBytes = [[0xff], [0xc3, 0x28], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0x80], [0xf4, 0x90, 0x80, 0x80]];
  for (const b of badBytes) {
    const hex = b.map((x) => x.toString(16)).join(" ");
    const inContent = Buffer.concat([Buffer.from(`{"model":"${c.model}","messages":[{"role":"user","content":"Once `), Buffer.from(b), Buffer.from(`"}],"max_tokens":2}`)]);
    add("invalid UTF-8", `chat content with ${hex}`, post(CHAT, inContent), [400], "invalid_utf8");
    const inPrompt = Buffer.concat([Buffer.from(`{"model":"${c.model}","prompt":"`), Buffer.from(b), Buffer.from(`","max_tokens":2}`)]);
    add("invalid UTF-8", `completions prompt with ${hex}`, post(COMPLETIONS, inPrompt), [400], "invalid_utf8");
  }
  add("invalid UTF-8", "in a field name", post(CHAT, Buffer.concat([Buffer.from('{"model":"' + c.model + '","messages":[{"role":"user","content":"x"}],"'), Buffer.from([0xff]), Buffer.from('":1}')])), [400], "invalid_utf8");
  add("invalid UTF-8", "in the model name", post(CHAT, Buffer.concat([Buffer.from('{"model":"'), Buffer.from([0xfe, 0xff]), Buffer.from('","messages":[{"role":"user","content":"x"}]}')])), [400], "invalid_utf8");
  add("invalid UTF-8", "UTF-16 body", post(CHAT, Buffer.from(JSON.stringify(okChat), "utf16le")), [400]);
  add("invalid UTF-8", "in X-Session-Id", post(CHAT, JSON.stringify(okChat), [Buffer.from([0x58, 0x2d, 0x53, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x2d, 0x49, 0x64, 0x3a, 0x20, 0xff, 0xfe])]), [400]);
  add("invalid UTF-8", "in the API key", { method: "GET", path: "/v1/models", headers: [Buffer.concat([Buffer.from("Authorization: Bearer sk-"), Buffer.from([0xff, 0xc3, 0x28])])] }, [401]);
  add("invalid UTF-8", "in a session id path (escaped)", { method: "GET", path: "/v1/sessions/%FF%FE", headers: [auth()] }, [400]);
  addHttp("invalid UTF-8", "in a session id path (raw byte)", Buffer.concat([Buffer.from("GET /v1/sessions/a"), Buffer.from([0xff]), Buffer.from(`b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${auth()}\r\n\r\n`)]), [400]);

  // --- malformed session ids: path, header ---
  // Percent-encoded into the path; the route must see the decoded id and refuse it.
  const badIds = ["a b", "a.b", "../healthz", "x".repeat(129), "\u0000", "a\r\nX-Owner: x", "é", "'or'1'='1", "<script>", "a;b", "a,b", " ", "a/b", "sess_1?x=1", "%"];
  for (const id of badIds) {
    const path = `/v1/sessions/${encodeURIComponent(id)}`;
    add("malformed session ids", `GET ${path.slice(0, 40)}`, { method: "GET", path, headers: [auth()] }, [400], undefined, "session_id");
    add("malformed session ids", `DELETE ${path.slice(0, 40)}`, { method: "DELETE", path, headers: [auth()] }, [400], undefined, "session_id");
  }
  for (const id of ["a b", "../x", "x".repeat(129), "a,b", "é"]) {
    add("malformed session ids", `X-Session-Id ${id.slice(0, 20)}`, post(CHAT, JSON.stringify(okChat), [Buffer.from(`X-Session-Id: ${id}`, "utf8")]), [400]);
  }
  add("malformed session ids", "X-Session-Id and session_id disagree", post(CHAT, JSON.stringify({ ...okChat, session_id: c.sessionA }), ["X-Session-Id: sess_other"]), [400], undefined, "session_id");
  add("malformed session ids", "well-formed but unknown session", post(CHAT, JSON.stringify({ ...okChat, session_id: "sess_" + "0".repeat(32) })), [404], "session_not_found");
  add("malformed session ids", "GET unknown session", { method: "GET", path: `/v1/sessions/sess_${"1".repeat(32)}`, headers: [auth()] }, [404], "session_not_found");

  // --- another key's session ---
  const b = (r: RawRequest) => r;
  add("another key's session", "GET", b({ method: "GET", path: `/v1/sessions/${c.sessionA}`, headers: [auth(c.keyB)] }), [404], "session_not_found");
  add("another key's session", "DELETE", b({ method: "DELETE", path: `/v1/sessions/${c.sessionA}`, headers: [auth(c.keyB)] }), [404], "session_not_found");
  add("another key's session", "chat with session_id", post(CHAT, JSON.stringify({ ...okChat, session_id: c.sessionA }), [], c.keyB), [404], "session_not_found");
  add("another key's session", "chat with X-Session-Id", post(CHAT, JSON.stringify(okChat), [`X-Session-Id: ${c.sessionA}`], c.keyB), [404], "session_not_found");
  add("another key's session", "streamed chat with session_id", post(CHAT, JSON.stringify({ ...okChat, stream: true, session_id: c.sessionA }), [], c.keyB), [404], "session_not_found");
  add("another key's session", "completions with session_id", post(COMPLETIONS, JSON.stringify({ ...okCompletion, session_id: c.sessionA }), [], c.keyB), [404], "session_not_found");
  add("another key's session", "resending A's whole conversation", post(CHAT, JSON.stringify({ ...okChat, session_id: c.sessionA, messages: [{ role: "user", content: "x" }, { role: "assistant", content: "y" }, { role: "user", content: "z" }] }), [], c.keyB), [404], "session_not_found");
  add("another key's session", "GET with a forged X-Owner header", b({ method: "GET", path: `/v1/sessions/${c.sessionA}`, headers: [auth(c.keyB), "X-Owner: " + "0".repeat(32)] }), [404], "session_not_found");

  // --- missing or wrong keys, on every route ---
  const routes: [string, string, string | undefined][] = [
    ["POST", CHAT, JSON.stringify(okChat)],
    ["POST", COMPLETIONS, JSON.stringify(okCompletion)],
    ["GET", "/v1/models", undefined],
    ["GET", `/v1/sessions/${c.sessionA}`, undefined],
    ["DELETE", `/v1/sessions/${c.sessionA}`, undefined],
  ];
  const badAuth: [string, (string | Buffer)[]][] = [
    ["no Authorization", []],
    ["empty Authorization", ["Authorization: "]],
    ["Bearer without a key", ["Authorization: Bearer"]],
    ["Basic auth", [`Authorization: Basic ${Buffer.from(`user:${c.keyA}`).toString("base64")}`]],
    ["Token scheme", [`Authorization: Token ${c.keyA}`]],
    ["the key with a suffix", [`Authorization: Bearer ${c.keyA}x`]],
    ["the key truncated", [`Authorization: Bearer ${c.keyA.slice(0, -1)}`]],
    ["the key upper-cased", [`Authorization: Bearer ${c.keyA.toUpperCase()}`]],
    ["two keys in one header", [`Authorization: Bearer ${c.keyA} ${c.keyB}`]],
    ["two Authorization headers", [`Authorization: Bearer ${c.keyA}`, `Authorization: Bearer ${c.keyB}`]],
    ["a 10 KB key", [`Authorization: Bearer sk-${"k".repeat(10_000)}`]],
    ["the key in api-key instead", [`api-key: ${c.keyA}`]],
  ];
  for (const [method, path, body] of routes) {
    for (const [name, headers] of badAuth) {
      add("missing or wrong keys", `${method} ${path.replace(c.sessionA, ":id")}: ${name}`, { method, path, headers: [json, ...headers], body }, [401]);
    }
  }

  // --- oversized headers ---
  const big = "request_header_fields_too_large";
  add("oversized headers", "one 20 KB header", { method: "GET", path: "/v1/models", headers: [auth(), `X-Big: ${"b".repeat(20 * 1024)}`] }, [431], big);
  add("oversized headers", "one 64 KB header", { method: "GET", path: "/v1/models", headers: [auth(), `X-Big: ${"b".repeat(64 * 1024)}`] }, [431], big);
  add("oversized headers", "500 headers of 200 bytes", { method: "GET", path: "/v1/models", headers: [auth(), ...Array.from({ length: 500 }, (_, i) => `X-H${i}: ${"v".repeat(200)}`)] }, [431], big);
  add("oversized headers", "a 64 KB X-Session-Id", post(CHAT, JSON.stringify(okChat), [`X-Session-Id: ${"s".repeat(64 * 1024)}`]), [431], big);
  add("oversized headers", "a 64 KB key", { method: "GET", path: "/v1/models", headers: [`Authorization: Bearer sk-${"k".repeat(64 * 1024)}`] }, [431], big);
  addHttp("oversized headers", "one 1 MB header", { method: "GET", path: "/v1/models", headers: [auth(), `X-Big: ${"b".repeat(1024 * 1024)}`] }, [431]);
  addHttp("oversized headers", "a 100 KB URL", { method: "GET", path: `/v1/sessions/${"s".repeat(100 * 1024)}`, headers: [auth()] }, [414]);

  // --- header injection and malformed framing ---
  const raw = (s: string) => Buffer.from(s, "latin1");
  const head = `Host: x\r\nConnection: close\r\n${auth()}\r\n`;
  addHttp("header injection", "CR inside X-Session-Id", raw(`POST ${CHAT} HTTP/1.1\r\n${head}X-Session-Id: abc\rX-Owner: x\r\nContent-Length: 2\r\n\r\n{}`), [400]);
  add("header injection", "LF inside X-Session-Id", raw(`POST ${CHAT} HTTP/1.1\r\n${head}X-Session-Id: abc\nX-Owner: x\r\nContent-Length: 2\r\n\r\n{}`), [400]);
  addHttp("header injection", "NUL in a header value", raw(`GET /v1/models HTTP/1.1\r\n${head}X-A: a\u0000b\r\n\r\n`), [400]);
  addHttp("header injection", "space in a header name", raw(`GET /v1/models HTTP/1.1\r\n${head}X Bad: 1\r\n\r\n`), [400]);
  addHttp("header injection", "obs-fold continuation", raw(`GET /v1/models HTTP/1.1\r\n${head}X-A: a\r\n  X-Owner: x\r\n\r\n`), [400]);
  add("header injection", "Content-Length and Transfer-Encoding (smuggling)", raw(`POST ${CHAT} HTTP/1.1\r\n${head}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n`), [400]);
  addHttp("header injection", "two different Content-Lengths", raw(`POST ${CHAT} HTTP/1.1\r\n${head}Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}`), [400]);
  addHttp("header injection", "negative Content-Length", raw(`POST ${CHAT} HTTP/1.1\r\n${head}Content-Length: -1\r\n\r\n{}`), [400]);
  // wrangler dev only: miniflare's entry worker (the local proxy in front of the Worker) loses the
  // connection on a broken chunked body and answers 500 with its own stack trace; no Worker code runs.
  addHttp("header injection", "bad chunk size (wrangler dev: 500 from miniflare's entry worker)", raw(`POST ${CHAT} HTTP/1.1\r\n${head}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`), [400, 500]);
  add("header injection", "CRLF in a session id path (escaped)", { method: "GET", path: "/v1/sessions/abc%0D%0ASet-Cookie:%20x", headers: [auth()] }, [400], undefined, "session_id");
  add("header injection", "CRLF in session_id (JSON escape)", post(CHAT, JSON.stringify({ ...okChat, session_id: "abc\r\nX-Session-Id: sess_x" })), [400], undefined, "session_id");

  // --- methods and routes ---
  for (const [method, path] of [["GET", CHAT], ["PUT", CHAT], ["PATCH", COMPLETIONS], ["POST", "/v1/sessions"], ["POST", `/v1/sessions/${c.sessionA}`], ["GET", "/v1/sessions/a/b"], ["GET", "/v1/embeddings"], ["GET", "/v2/models"]] as const) {
    add("routes", `${method} ${path.replace(c.sessionA, ":id")}`, { method, path, headers: [auth(), json], body: method === "GET" ? undefined : "{}" }, [404, 405]);
  }
  return cases;
}
