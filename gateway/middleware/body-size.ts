// Request size limit (MAX_BODY_BYTES, default 1 MiB) with Hono's bodyLimit, answering 413 in OpenAI's shape.
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export const bodySize = createMiddleware<GatewayEnv>(async (c, next) => {
  const maxSize = Number(c.env.MAX_BODY_BYTES ?? DEFAULT_MAX_BODY_BYTES) || DEFAULT_MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, `request body is larger than ${maxSize} bytes`, { code: "request_too_large" });
    },
  });
  await limit(c, next);
});
