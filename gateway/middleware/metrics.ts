// Counts every request (but scrapes of /metrics) by method, matched route and status, with
// the tokens and time to first token the generation route noted. The sample goes to the
// metrics objects after the response (and after a stream's end), off the request's path.
import type { Context } from "hono";
import { createMiddleware } from "hono/factory";
import { routePath } from "hono/route";
import { RequestMetrics } from "../metrics/request-metrics.ts";
import { recordSample } from "../metrics/store.ts";
import type { GatewayEnv } from "../types.ts";

function executionContext(c: Context<GatewayEnv>): { waitUntil(p: Promise<unknown>): void } | null {
  try {
    return c.executionCtx;
  } catch {
    return null; // app.request() without a context (unit tests): nothing to record into
  }
}

export const requestMetrics = createMiddleware<GatewayEnv>(async (c, next) => {
  const ctx = executionContext(c);
  if (c.req.path === "/metrics" || !ctx || !c.env?.METRICS) return next();
  const m = new RequestMetrics();
  c.set("metrics", m);
  await next();
  const matched = routePath(c, -1);
  // Only this catch-all middleware matched: no route (a 404). A wildcard route such as the
  // weight store's /weights/* keeps its own label.
  const route = matched === "*" || matched === "/*" ? "unmatched" : matched;
  const status = c.res.status;
  const record = m.finished.then(() =>
    recordSample(c.env, { method: c.req.method, route, status, tokensIn: m.tokensIn, tokensOut: m.tokensOut, ttftSeconds: m.ttftSeconds }),
  );
  ctx.waitUntil(record.catch((e) => console.error("metrics: could not record a request:", e)));
});
