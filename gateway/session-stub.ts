// Sessions are Durable Objects named by (key namespace, session id): another key's id names
// a different, empty object, so it can only ever answer 404.
import { ApiError } from "../shared/serving/api-error.ts";
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

export function assertServedModel(env: Env, model: string): void {
  if (model !== env.MODEL_ID) throw new ApiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, { param: "model", code: "model_not_found" });
}
