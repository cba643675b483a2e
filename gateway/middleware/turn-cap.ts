// Per-key cap on concurrent turns (MAX_CONCURRENT_TURNS_PER_KEY, default 8, 0 off): a key with
// that many generations in flight gets 429 with Retry-After at once, so one key cannot fill the
// nodes' queues. The slot lives in the key's RateLimiter object and is released when the
// response body ends or is cancelled (a stream's last byte, or the client going away); a lease
// frees it anyway if that release is lost.
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const DEFAULT_MAX_CONCURRENT_TURNS = 8;
const LEASE_MS = 15 * 60_000;

export const turnCap = createMiddleware<GatewayEnv>(async (c, next) => {
  const raw = c.env.MAX_CONCURRENT_TURNS_PER_KEY;
  const max = raw === undefined || raw === "" ? DEFAULT_MAX_CONCURRENT_TURNS : Number(raw);
  if (!(max > 0)) return next();
  const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(c.get("owner")));
  const { id } = await limiter.acquireTurn(max, LEASE_MS);
  if (id === null) {
    throw new ApiError(429, `this API key already has ${max} turns in flight; retry when one ends`, {
      type: "rate_limit_error",
      code: "too_many_concurrent_turns",
      headers: { "retry-after": "1" },
    });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const p = limiter.releaseTurn(id).catch((e: unknown) => console.error("turn cap: could not release a slot:", e));
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      /* no execution context (app.request in unit tests): the promise still runs */
    }
  };
  try {
    await next();
  } catch (e) {
    release();
    throw e;
  }
  const body = c.res.body;
  if (!body) return release();
  const reader = body.getReader();
  const wrapped = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          release();
          controller.close();
        } else controller.enqueue(value);
      } catch (e) {
        release();
        controller.error(e);
      }
    },
    async cancel(reason) {
      release();
      await reader.cancel(reason);
    },
  });
  c.res = new Response(wrapped, c.res);
});
