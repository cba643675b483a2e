// The Hono environment of the gateway: bindings plus what middleware learns per request.
import type { Env } from "../workers/env.ts";

export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** Namespace of the caller's API key (a prefix of its SHA-256); sessions live under it. */
    owner: string;
  };
}
