// Every error leaves the gateway as an OpenAI error object; a 5xx is logged, never explained.
import type { ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const onError: ErrorHandler<GatewayEnv> = (err) => {
  if (err instanceof ApiError) return err.toResponse();
  if (err instanceof HTTPException && err.status < 500) return new ApiError(err.status, err.message || "bad request").toResponse();
  console.error("gateway error", err);
  return new ApiError(500, "internal error", { code: "internal_error" }).toResponse();
};

export const notFound: NotFoundHandler<GatewayEnv> = (c) =>
  new ApiError(404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`, { code: "not_found" }).toResponse();
