// The Hono environment of the gateway: bindings plus what middleware learns per request.
import type { Env } from "../workers/env.ts";
import type { RequestMetrics } from "./metrics/request-metrics.ts";

export interface GatewayEnv {
  Bindings: Env;
  Variables: {
    /** Namespace of the caller's API key (a prefix of its SHA-256); sessions live under it. */
    owner: string;
    /** This request's contribution to GET /metrics (absent on /metrics itself). */
    metrics?: RequestMetrics;
  };
}
