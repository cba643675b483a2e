// GET /playground: the page (no key needed to load it; the page asks for one to call the API).
// GET /favicon.ico: its icon, for the request a browser makes for any page of this origin.
import type { Context } from "hono";
import { FAVICON_SVG } from "../playground/favicon.ts";
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

export function faviconRoute(): Response {
  return new Response(FAVICON_SVG, {
    headers: { "content-type": "image/svg+xml", "x-content-type-options": "nosniff", "cache-control": "public, max-age=86400" },
  });
}
