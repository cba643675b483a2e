// Request size limits: headers (MAX_HEADER_BYTES in all, 431) and body (MAX_BODY_BYTES, default
// 1 MiB, with Hono's bodyLimit, 413), answering in OpenAI's shape.
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/** Far above what any client sends (the openai client sends about 1 KB); below what workerd accepts. */
export const MAX_HEADER_BYTES = 16 * 1024;

export const bodySize = createMiddleware<GatewayEnv>(async (c, next) => {
  let headerBytes = 0;
  for (const [name, value] of c.req.raw.headers) headerBytes += name.length + value.length + 4;
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new ApiError(431, `request headers are larger than ${MAX_HEADER_BYTES} bytes`, { code: "request_header_fields_too_large" });
  }
  const maxSize = Number(c.env.MAX_BODY_BYTES ?? DEFAULT_MAX_BODY_BYTES) || DEFAULT_MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, `request body is larger than ${maxSize} bytes`, { code: "request_too_large" });
    },
  });
  await limit(c, next);
});
