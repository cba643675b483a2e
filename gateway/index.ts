// The gateway Worker: OpenAI-compatible HTTP API in front of the Session Durable Objects.
// Middleware order on /v1: size limit (cheap, before reading anything), API key, rate limit.
import { Hono } from "hono";
import { apiKeyAuth } from "./middleware/auth.ts";
import { bodySize } from "./middleware/body-size.ts";
import { requestMetrics } from "./middleware/metrics.ts";
import { notFound, onError } from "./middleware/errors.ts";
import { rateLimit } from "./middleware/rate-limit.ts";
import { turnCap } from "./middleware/turn-cap.ts";
import { generationRoute } from "./routes/generation.ts";
import { responsesRoute } from "./routes/responses.ts";
import { metricsRoute } from "./routes/metrics.ts";
import { faviconRoute, playgroundRoute } from "./routes/playground.ts";
import { readinessRoute } from "./routes/readiness.ts";
import { models } from "./routes/models.ts";
import { sessions } from "./routes/sessions.ts";
import { weightsRoute } from "./routes/weights.ts";
import type { GatewayEnv } from "./types.ts";

export { SessionObject } from "../workers/session/session-object.ts";
export { RateLimiter } from "../workers/rate-limit/rate-limiter.ts";
export { MetricsObject } from "../workers/metrics/metrics-object.ts";
export { SessionIndex } from "../workers/session-index/session-index.ts";

const app = new Hono<GatewayEnv>();
app.onError(onError);
app.notFound(notFound);
app.use("*", requestMetrics);

app.get("/healthz", (c) => c.json({ ok: true, model: c.env.MODEL_ID }));
app.get("/readyz", readinessRoute);
app.get("/metrics", metricsRoute);
app.get("/playground", playgroundRoute);
app.get("/favicon.ico", faviconRoute);
// Inference nodes read their weights here, with the node token (not an API key).
app.all("/weights/*", weightsRoute);

app.use("/v1/*", bodySize, apiKeyAuth, rateLimit);
app.post("/v1/chat/completions", turnCap, generationRoute("chat"));
app.post("/v1/completions", turnCap, generationRoute("completion"));
app.post("/v1/responses", turnCap, responsesRoute);
app.route("/v1/models", models);
app.route("/v1/sessions", sessions);

export default app;
