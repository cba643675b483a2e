// GET /v1/sessions/:id (history, masks, re-mask events, usage) and DELETE /v1/sessions/:id.
import { Hono } from "hono";
import { badRequest } from "../../shared/serving/api-error.ts";
import { sessionStub } from "../session-stub.ts";
import type { GatewayEnv } from "../types.ts";
import { SESSION_ID } from "../validation/fields.ts";

export const sessions = new Hono<GatewayEnv>();

sessions.on(["GET", "DELETE"], "/:id", async (c) => {
  const id = c.req.param("id");
  if (!SESSION_ID.test(id)) throw badRequest("session id must be 1-128 characters of [A-Za-z0-9_-]", "session_id");
  const owner = c.get("owner");
  const res = await sessionStub(c.env, owner, id).fetch(`https://session/${new URL(c.req.url).search}`, { method: c.req.method, headers: { "x-owner": owner } });
  return new Response(res.body, { status: res.status, headers: { "content-type": "application/json" } });
});
