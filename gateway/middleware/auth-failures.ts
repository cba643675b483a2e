// Failed authentications are rate limited per client address (AUTH_FAILURES_PER_MINUTE,
// default 60, 0 disables), before any key is checked: a client that keeps presenting wrong
// keys or tokens gets 429 with Retry-After instead of more guesses (and more PBKDF2 work).
// The address is CF-Connecting-IP (set by Cloudflare; wrangler dev sets it to the peer).
import type { Context } from "hono";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const DEFAULT_AUTH_FAILURES_PER_MINUTE = 60;

export interface AuthFailureGuard {
  /** Throws 429 when this client has used up its failures. */
  check(): Promise<void>;
  /** Counts one failure; throws 429 when that was one too many. */
  failed(): Promise<void>;
}

export function authFailureGuard(c: Context<GatewayEnv>): AuthFailureGuard {
  const raw = c.env.AUTH_FAILURES_PER_MINUTE;
  const perMinute = raw === undefined || raw === "" ? DEFAULT_AUTH_FAILURES_PER_MINUTE : Number(raw);
  if (!(perMinute > 0) || !c.env.RATE_LIMITER) return { check: async () => {}, failed: async () => {} };
  const client = c.req.header("cf-connecting-ip") ?? "unknown";
  const limiter = () => c.env.RATE_LIMITER.get(c.env.RATE_LIMITER.idFromName(`auth-failures:${client}`));
  const refuse = (retryAfter: number) =>
    new ApiError(429, `too many failed authentications from this address; retry in ${retryAfter}s`, {
      type: "rate_limit_error",
      code: "too_many_auth_failures",
      headers: { "retry-after": String(retryAfter) },
    });
  return {
    async check() {
      const r = await limiter().peek(perMinute);
      if (!r.allowed) throw refuse(r.retryAfter);
    },
    async failed() {
      const r = await limiter().take(perMinute);
      if (!r.allowed) throw refuse(r.retryAfter);
    },
  };
}
