// GET /playground: the page (no key needed to load it; the page asks for one to call the API).
import type { Context } from "hono";
import { playgroundCsp, playgroundHtml } from "../playground/page.ts";
import { dartDefaults } from "../session-stub.ts";
import type { GatewayEnv } from "../types.ts";

export async function playgroundRoute(c: Context<GatewayEnv>): Promise<Response> {
  return new Response(playgroundHtml(c.env.MODEL_ID, dartDefaults(c.env)), {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": await playgroundCsp(),
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cache-control": "no-cache",
    },
  });
}
