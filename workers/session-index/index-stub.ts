// The SessionIndex object of one key namespace (never shared between API keys).
import type { Env } from "../env.ts";

export function sessionIndexStub(env: Env, owner: string) {
  return env.SESSION_INDEX.get(env.SESSION_INDEX.idFromName(`index:${owner}`));
}
