// Bearer API keys, checked against SHA-256 digests (API_KEY_HASHES) so the Worker's
// configuration never holds a usable key. The digest's prefix namespaces the caller's sessions.
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export function acceptedHashes(config: string | undefined): Set<string> {
  return new Set((config ?? "").split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean));
}

/** Constant-time over the candidate set's members (no early exit on the first differing byte). */
export function matches(hash: string, accepted: Set<string>): boolean {
  let found = false;
  for (const h of accepted) {
    let diff = h.length ^ hash.length;
    for (let i = 0; i < h.length && i < hash.length; i++) diff |= h.charCodeAt(i) ^ hash.charCodeAt(i);
    found ||= diff === 0;
  }
  return found;
}

export const apiKeyAuth = createMiddleware<GatewayEnv>(async (c, next) => {
  const header = c.req.header("authorization") ?? "";
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) {
    throw new ApiError(401, "missing API key: send Authorization: Bearer <key>", { type: "invalid_request_error", code: "missing_api_key" });
  }
  const hash = await sha256Hex(m[1]!);
  if (!matches(hash, acceptedHashes(c.env.API_KEY_HASHES))) {
    throw new ApiError(401, "incorrect API key provided", { type: "invalid_request_error", code: "invalid_api_key" });
  }
  c.set("owner", hash.slice(0, 32));
  await next();
});
