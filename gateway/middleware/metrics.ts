// Counts every request (but scrapes of /metrics) by method, matched route and status, with
// the tokens and time to first token the generation route noted. The sample goes to the
// metrics objects after the response (and after a stream's end), off the request's path.
import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import { RequestMetrics } from "../metrics/request-metrics.ts";
import { recordSample } from "../metrics/store.ts";
import type { GatewayEnv } from "../types.ts";

export const requestMetrics = createMiddleware<GatewayEnv>(async (c, next) => {
  if (c.req.path === "/metrics") return next();
  const m = new RequestMetrics();
  c.set("metrics", m);
  await next();
  const matched = routePath(c, -1);
  const route = matched.includes("*") ? "unmatched" : matched;
  const status = c.res.status;
  const record = m.finished.then(() =>
    recordSample(c.env, { method: c.req.method, route, status, tokensIn: m.tokensIn, tokensOut: m.tokensOut, ttftSeconds: m.ttftSeconds }),
  );
  c.executionCtx.waitUntil(record.catch((e) => console.error("metrics: could not record a request:", e)));
});
