// GET /metrics: the gateway's counters in Prometheus text. A scraper presents either an
// API key or METRICS_TOKEN as a bearer (Prometheus: `authorization: {credentials: ...}`).
import type { Context } from "hono";
import { ApiError } from "../../shared/serving/api-error.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../shared/metrics/prometheus.ts";
import { sameText } from "../../shared/security/constant-time.ts";
import { apiKeyAccepted } from "../middleware/auth.ts";
import { authFailureGuard } from "../middleware/auth-failures.ts";
import { renderMetrics } from "../metrics/store.ts";
import type { GatewayEnv } from "../types.ts";

export async function metricsRoute(c: Context<GatewayEnv>): Promise<Response> {
  const guard = authFailureGuard(c);
  await guard.check();
  const m = /^Bearer\s+(\S+)$/i.exec(c.req.header("authorization") ?? "");
  const token = c.env.METRICS_TOKEN ?? "";
  const ok = m !== null && ((token !== "" && sameText(m[1]!, token)) || (await apiKeyAccepted(m[1]!, c.env.API_KEY_HASHES)));
  if (!ok) {
    await guard.failed();
    throw new ApiError(401, "GET /metrics needs Authorization: Bearer <API key or METRICS_TOKEN>", { type: "invalid_request_error", code: "invalid_api_key" });
  }
  return new Response(await renderMetrics(c.env), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" } });
}
