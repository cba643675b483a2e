// The Idempotency-Key request header: a client that resends a turn whose answer it lost (a
// dropped connection, a timeout) gets the stored answer instead of a second turn. The key is
// scoped to the API key and session (the Session object keeps the answers); the request's
// fingerprint tells a true retry from a different request that reuses the key.
import type { Context } from "hono";
import { badRequest } from "../shared/serving/api-error.ts";
import type { IdempotencyClaim } from "../shared/serving/protocol.ts";
import { sha256Hex } from "../shared/security/api-key-hash.ts";
import type { GatewayEnv } from "./types.ts";

/** Printable ASCII, as Stripe and the IETF draft allow; long enough for any UUID-based scheme. */
const KEY = /^[\x21-\x7e]{1,255}$/;

/** The request's claim, or null when it sent no Idempotency-Key; a malformed key is a 400. */
export async function idempotencyClaim(c: Context<GatewayEnv>, body: unknown): Promise<IdempotencyClaim | null> {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return null;
  if (!KEY.test(key)) throw badRequest("Idempotency-Key must be 1 to 255 printable ASCII characters without spaces", null, "invalid_idempotency_key");
  // What makes two requests the same: the route, the session header and the whole body.
  const fingerprint = await sha256Hex(JSON.stringify([c.req.path, c.req.header("x-session-id") ?? null, body]));
  return { key, fingerprint };
}
