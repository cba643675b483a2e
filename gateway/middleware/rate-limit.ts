// Per-key request rate limit (RATE_LIMIT_PER_MINUTE, 0 disables), enforced by one
// RateLimiter Durable Object per key. Runs after auth: it needs the key's namespace.
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const rateLimit = createMiddleware<GatewayEnv>(async (c, next) => {
  const perMinute = Number(c.env.RATE_LIMIT_PER_MINUTE ?? 0);
  if (perMinute > 0) {
    const limiter = c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(c.get("owner")));
    const r = await limiter.take(perMinute);
    if (!r.allowed) {
      throw new ApiError(429, `rate limit of ${perMinute} requests per minute exceeded for this API key; retry in ${r.retryAfter}s`, {
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        headers: { "retry-after": String(r.retryAfter) },
      });
    }
  }
  await next();
});
