// POST /v1/responses: OpenAI's Responses API over the same Session objects as chat. The
// conversation is a session: previous_response_id names a session turn (resp_<turn>_<session>),
// so the next turn continues that session's KV cache and DART state; without it, the input is
// a chat history and continues the caller's matching session like a chat request would.
import type { Context } from "hono";
import { ApiError } from "../../shared/serving/api-error.ts";
import { NdjsonReader } from "../../shared/serving/ndjson.ts";
import type { SessionEvent } from "../../shared/serving/protocol.ts";
import { ResponseEvents, responseObject, type ResponseState } from "../openai/responses-format.ts";
import { SSE_HEADERS, sseStream } from "../openai/sse.ts";
import { readJson } from "../read-json.ts";
import { cancelOnDisconnect, sessionTurnCanceller } from "../cancel-on-disconnect.ts";
import { samplingDefaults } from "../sampling-defaults.ts";
import { assertServedModel, dartDefaults } from "../session-stub.ts";
import { openSessionTurn, type TurnBase } from "../session-turn.ts";
import type { GatewayEnv } from "../types.ts";
import { parseResponsesRequest } from "../validation/responses.ts";
import { midTurnError, passErrorHeaders, replayedHeader } from "./generation.ts";
import { idempotencyClaim } from "../idempotency-key.ts";

const streamEnded = () => new ApiError(502, "the session stream ended early", { code: "stream_ended" });

export async function responsesRoute(c: Context<GatewayEnv>) {
  const json = await readJson(c);
  const req = parseResponsesRequest(json, dartDefaults(c.env), samplingDefaults(c.env));
  const idempotency = await idempotencyClaim(c, json);
  assertServedModel(c.env, req.model);
  const owner = c.get("owner");
  const base: TurnBase = {
    owner,
    model: req.model,
    maxTokens: req.maxOutputTokens,
    temperature: req.temperature,
    topP: req.topP,
    seed: null,
    dart: req.dart,
    dartDefaults: dartDefaults(c.env),
    // Continuing a response: only the new input; else instructions lead the history (so a
    // client resending it is matched to its session).
    messages: req.previous ? req.input : [...(req.instructions !== null ? [{ role: "system", content: req.instructions }] : []), ...req.input],
    ...(req.previous ? { previousTurn: req.previous.turn, ...(req.instructions !== null ? { instructions: req.instructions } : {}) } : {}),
    ...(idempotency ? { idempotency } : {}),
  };
  const res = await openSessionTurn(c.env, owner, base, req.previous?.sessionId ?? null);
  if (res.status === 404 && req.previous) {
    await res.body?.cancel();
    throw new ApiError(404, `no response ${req.previous.id} for this API key`, { param: "previous_response_id", code: "previous_response_not_found" });
  }
  if (!res.ok) return new Response(res.body, { status: res.status, headers: passErrorHeaders(res) });

  const metrics = c.get("metrics");
  const reader = new NdjsonReader<SessionEvent>(res.body!);
  const start = await reader.next();
  if (start?.type !== "start") throw new ApiError(502, "the session answered without starting the turn", { code: "bad_session_response" });
  const state: ResponseState = { req, start, createdAt: Math.floor(Date.now() / 1000), text: "", done: null };
  const headers = { "x-session-id": start.sessionId, "x-dropped-messages": String(start.droppedMessages), "x-inference-node": start.node, ...replayedHeader(res) };

  /** The next text delta, or null once the turn is done (state.done set). */
  const nextText = async (): Promise<string | null> => {
    for (;;) {
      const e = await reader.next();
      if (e?.type === "dart") continue;
      if (e?.type === "text") {
        metrics?.firstToken();
        state.text += e.text;
        return e.text;
      }
      if (e?.type === "done") {
        metrics?.usage(e.usage.promptTokens, e.usage.completionTokens);
        state.done = e;
        return null;
      }
      throw e?.type === "error" ? midTurnError(e) : streamEnded();
    }
  };

  if (!req.stream) {
    const unwatch = cancelOnDisconnect(c.req.raw, sessionTurnCanceller(c.env, owner, start.sessionId, res, reader), (p) => c.executionCtx.waitUntil(p));
    try {
      while ((await nextText()) !== null);
    } finally {
      unwatch();
    }
    return c.json(responseObject(state), 200, headers);
  }

  const events = new ResponseEvents(state);
  let opened = false;
  let finished = false;
  const ended = metrics?.streaming() ?? (() => {});
  const body = sseStream(
    async () => {
      if (finished) {
        ended();
        return null;
      }
      if (!opened) {
        opened = true;
        return events.opening();
      }
      try {
        const text = await nextText();
        if (text !== null) return [events.delta(text)];
        finished = true;
        return events.closing();
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        // An error after the stream began can only be reported in-band.
        finished = true;
        return [events.error({ message: err.message, code: err.code, param: err.param })];
      }
    },
    async () => {
      ended();
      await reader.cancel();
    },
    { named: true },
  );
  return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
}
