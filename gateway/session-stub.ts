// Sessions are Durable Objects named by (key namespace, session id): another key's id names
// a different, empty object, so it can only ever answer 404.
import type { Env } from "../workers/env.ts";
import { parseDartSettings, type DartSettings } from "../shared/dart/settings.ts";

export function sessionStub(env: Env, owner: string, sessionId: string) {
  return env.SESSIONS.get(env.SESSIONS.idFromName(`${owner}:${sessionId}`));
}

export function newSessionId(): string {
  return "sess_" + crypto.randomUUID().replaceAll("-", "");
}

/** DART defaults from configuration (wrangler.toml [vars.DART_DEFAULTS] or a JSON --var). */
export function dartDefaults(env: Env): DartSettings {
  const d = env.DART_DEFAULTS;
  return parseDartSettings(typeof d === "string" ? (d.trim() ? JSON.parse(d) : undefined) : d);
}
