// A request body as JSON: unreadable, invalid UTF-8 and invalid JSON are each a clear 400.
import type { Context } from "hono";
import { badRequest } from "../shared/serving/api-error.ts";
import type { GatewayEnv } from "./types.ts";

export async function readJson(c: Context<GatewayEnv>): Promise<unknown> {
  let bytes: ArrayBuffer;
  try {
    bytes = await c.req.arrayBuffer();
  } catch {
    throw badRequest("the request body could not be read", null, "invalid_body");
  }
  let text: string;
  try {
    // Strict: invalid UTF-8 is refused, not silently replaced by U+FFFD and served.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw badRequest("request body is not valid UTF-8", null, "invalid_utf8");
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("request body is not valid JSON", null, "invalid_json");
  }
}

