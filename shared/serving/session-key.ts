// The key a node files a session's KV cache under. The node reuses the cache for the longest
// common prefix of the tokens it is sent and reports how many it reused, so whoever can name
// another session's key learns how much of a guess matches that conversation. The Session
// object therefore signs its key with an HMAC under the node token, and a node that has a
// token refuses keys that are not signed with it (workers/node/server.ts).
import { sameText } from "../security/constant-time.ts";

const enc = new TextEncoder();

async function mac(secret: string, id: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", enc.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const sig = await crypto.subtle.sign("HMAC", key, enc.encode(`dart-session-key:${id}`));
  return [...new Uint8Array(sig)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** `<id>.<hmac>` under `secret`; just `id` when there is no secret (a node without a token). */
export async function signSessionKey(id: string, secret: string | undefined): Promise<string> {
  return secret ? `${id}.${await mac(secret, id)}` : id;
}

/** Whether `key` is `<id>.<hmac>` signed under `secret` (any key passes when there is no secret). */
export async function sessionKeyValid(key: string, secret: string | undefined): Promise<boolean> {
  if (!secret) return true;
  const dot = key.lastIndexOf(".");
  if (dot <= 0) return false;
  return sameText(key.slice(dot + 1), await mac(secret, key.slice(0, dot)));
}
