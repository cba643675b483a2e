// POST /v1/chat/completions and POST /v1/completions: validate, hand the turn to the
// session's Durable Object, and answer in OpenAI's shape (JSON, or SSE when stream is true).
import type { Context } from "hono";
import { ApiError } from "../../shared/serving/api-error.ts";
import { NdjsonReader } from "../../shared/serving/ndjson.ts";
import type { ReportedLogprob, SessionDone, SessionEvent } from "../../shared/serving/protocol.ts";
import { chunkObject, completeObject, dartEventChunk, usageChunk, type ResponseMeta } from "../openai/format.ts";
import { samplingDefaults } from "../sampling-defaults.ts";
import { SSE_HEADERS, sseStream } from "../openai/sse.ts";
import { assertServedModel, dartDefaults } from "../session-stub.ts";
import { openSessionTurn, type TurnBase } from "../session-turn.ts";
import type { GatewayEnv } from "../types.ts";
import { readJson } from "../read-json.ts";
import { cancelOnDisconnect, sessionTurnCanceller } from "../cancel-on-disconnect.ts";
import { idempotencyClaim } from "../idempotency-key.ts";
import { parseGenerationRequest, type GenerationRequest } from "../validation/generation.ts";

/** An error from the Session object keeps its Retry-After (429: busy nodes). */
export const passErrorHeaders = (res: Response): Record<string, string> => {
  const retry = res.headers.get("retry-after");
  return { "content-type": "application/json", ...(retry ? { "retry-after": retry } : {}) };
};

/** A retry answered from the stored turn says so (Idempotency-Key). */
export const replayedHeader = (res: Response): Record<string, string> => (res.headers.get("idempotent-replayed") ? { "idempotent-replayed": "true" } : {});

export const midTurnError = (e: Extract<SessionEvent, { type: "error" }>) => new ApiError(e.status, e.message, { param: e.param, code: e.code });

export function generationRoute(kind: GenerationRequest["kind"]) {
  return async (c: Context<GatewayEnv>) => {
    const json = await readJson(c);
    const req = parseGenerationRequest(kind, json, dartDefaults(c.env), c.req.header("x-session-id") ?? null, samplingDefaults(c.env));
    const idempotency = await idempotencyClaim(c, json);
    assertServedModel(c.env, req.model);
    const owner = c.get("owner");
    const turn: TurnBase = {
      owner,
      model: req.model,
      messages: req.messages,
      prompt: req.prompt,
      maxTokens: req.maxTokens,
      temperature: req.temperature,
      topP: req.topP,
      seed: req.seed,
      dart: req.dart,
      dartDefaults: dartDefaults(c.env),
      sampling: req.sampling,
      ...(idempotency ? { idempotency } : {}),
    };
    const res = await openSessionTurn(c.env, owner, turn, req.sessionId);
    if (!res.ok) return new Response(res.body, { status: res.status, headers: passErrorHeaders(res) });

    const metrics = c.get("metrics");
    const reader = new NdjsonReader<SessionEvent>(res.body!);
    const start = await reader.next();
    if (start?.type !== "start") throw new ApiError(502, "the session answered without starting the turn", { code: "bad_session_response" });
    const meta: ResponseMeta = {
      id: (kind === "chat" ? "chatcmpl-" : "cmpl-") + crypto.randomUUID().replaceAll("-", ""),
      created: Math.floor(Date.now() / 1000),
      model: req.model,
      kind,
      start,
    };
    const headers: Record<string, string> = {
      "x-session-id": start.sessionId,
      "x-dropped-messages": String(start.droppedMessages),
      "x-inference-node": start.node,
      ...replayedHeader(res),
    };

    const wantLogprobs = req.sampling.topLogprobs !== undefined;
    if (!req.stream) {
      let text = "";
      const lps: ReportedLogprob[] = [];
      const unwatch = cancelOnDisconnect(c.req.raw, sessionTurnCanceller(c.env, owner, start.sessionId, res, reader), (p) => c.executionCtx.waitUntil(p));
      try {
        for (;;) {
          const e = await reader.next();
          if (e?.type === "dart") continue;
          if (e?.type === "text") {
            metrics?.firstToken();
            text += e.text;
            if (e.logprobs) lps.push(...e.logprobs);
          } else if (e?.type === "done") {
            metrics?.usage(e.usage.promptTokens, e.usage.completionTokens);
            return c.json(completeObject(meta, text, e, wantLogprobs ? lps : null), 200, headers);
          } else if (e?.type === "error") throw midTurnError(e);
          else throw new ApiError(502, "the session stream ended early", { code: "stream_ended" });
        }
      } finally {
        unwatch();
      }
    }

    let first = true;
    let finished = false;
    const streamEnded = metrics?.streaming() ?? (() => {});
    const body = sseStream(
      async () => {
        if (finished) {
          streamEnded();
          return null;
        }
        if (first) {
          // The role chunk goes out at once: the client knows the turn started before any token.
          first = false;
          return [chunkObject(meta, null, { first: true, includeUsage: req.includeUsage })];
        }
        const out: unknown[] = [];
        let e: SessionEvent | null;
        try {
          // DART events go out only to clients that asked (stream_options.include_dart_events).
          do e = await reader.next();
          while (e?.type === "dart" && !req.includeDartEvents);
        } catch (err) {
          streamEnded(); // an errored stream still counts
          throw err;
        }
        if (e?.type === "dart") out.push(dartEventChunk(meta, e));
        else if (e?.type === "text") {
          metrics?.firstToken();
          out.push(chunkObject(meta, e.text, { includeUsage: req.includeUsage, logprobs: wantLogprobs ? (e.logprobs ?? []) : null }));
        } else if (e?.type === "done") {
          metrics?.usage(e.usage.promptTokens, e.usage.completionTokens);
          out.push(chunkObject(meta, null, { finish: e.finishReason, includeUsage: req.includeUsage }));
          if (req.includeUsage) out.push(usageChunk(meta, e as SessionDone));
          out.push("[DONE]");
          finished = true;
        } else {
          // An error after the stream began can only be reported in-band.
          const err = e?.type === "error" ? midTurnError(e) : new ApiError(502, "the session stream ended early", { code: "stream_ended" });
          out.push(err.body());
          finished = true;
        }
        return out;
      },
      async () => {
        streamEnded();
        await reader.cancel();
      },
    );
    return new Response(body, { status: 200, headers: { ...SSE_HEADERS, ...headers } });
  };
}
