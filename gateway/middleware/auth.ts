// Bearer API keys, checked against API_KEY_HASHES (salted PBKDF2 entries, or bare SHA-256
// of older configurations; shared/security/api-key-hash.ts) so the Worker's configuration
// never holds a usable key. The key's SHA-256 prefix namespaces the caller's sessions.
// Failed attempts are rate limited per client address (auth-failures.ts).
import { createMiddleware } from "hono/factory";
import { keyMatches, parseKeyHashes, sha256Hex } from "../../shared/security/api-key-hash.ts";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";
import { authFailureGuard } from "./auth-failures.ts";

export { sha256Hex };

// Keys this isolate has already verified against a given configuration, by the key's SHA-256:
// a PBKDF2 check costs tens of milliseconds, so it is paid once per key and isolate.
const verified = new Map<string, true>();
const MAX_VERIFIED = 1024;

const memoKey = async (key: string, config: string | undefined) => `${await sha256Hex(config ?? "")}:${await sha256Hex(key)}`;

/** Whether this isolate has already accepted `key` under `config` (no PBKDF2 needed). */
export async function apiKeyKnown(key: string, config: string | undefined): Promise<boolean> {
  return verified.has(await memoKey(key, config));
}

/** Whether the bearer `key` is accepted by the configuration `config` (API_KEY_HASHES). */
export async function apiKeyAccepted(key: string, config: string | undefined): Promise<boolean> {
  const memo = await memoKey(key, config);
  if (verified.has(memo)) return true;
  if (!(await keyMatches(key, parseKeyHashes(config)))) return false;
  if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!);
  verified.set(memo, true);
  return true;
}

export const apiKeyAuth = createMiddleware<GatewayEnv>(async (c, next) => {
  const guard = authFailureGuard(c);
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  if (!m) {
    await guard.failed();
    throw new ApiError(401, "missing API key: send Authorization: Bearer <key>", { type: "invalid_request_error", code: "missing_api_key" });
  }
  // A key this isolate already accepted skips the guard; anything else waits for it first.
  if (!(await apiKeyKnown(m[1]!, c.env.API_KEY_HASHES))) await guard.check();
  if (!(await apiKeyAccepted(m[1]!, c.env.API_KEY_HASHES))) {
    await guard.failed();
    throw new ApiError(401, "incorrect API key provided", { type: "invalid_request_error", code: "invalid_api_key" });
  }
  c.set("owner", (await sha256Hex(m[1]!)).slice(0, 32));
  await next();
});
