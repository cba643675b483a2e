// GET /readyz: 200 when a chat would succeed now (the Session objects run and at least one
// inference node accepts this deployment's node token and is loaded), else 503. `dart serve`
// prints its banner only once this says ready. /healthz only says the gateway itself is up.
// The probe goes through a Session object, the only part that talks to nodes (gateway ->
// session -> node); its name has no ":" so it can never be a client's session.
import type { Context } from "hono";
import type { NodeReadiness } from "../../workers/session/node-client.ts";
import type { GatewayEnv } from "../types.ts";

export async function readinessRoute(c: Context<GatewayEnv>): Promise<Response> {
  const stub = c.env.SESSIONS.get(c.env.SESSIONS.idFromName("readiness-probe"));
  const nodes = (await (await stub.fetch("https://session/ready")).json()) as NodeReadiness;
  const ready = nodes.ready > 0;
  return c.json({ ready, model: c.env.MODEL_ID, nodes }, ready ? 200 : 503, { "cache-control": "no-store" });
}
