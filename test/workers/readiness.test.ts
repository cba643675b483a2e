// GET /readyz inside workerd: ready (200) once a Session object reaches a loaded node (the real
// node of global setup), not ready (503) when every node is down; /healthz answers either way.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { expect, it } from "vitest";
import type { SessionObject } from "../../workers/session/session-object.ts";

it("says ready, without a key, when the node can take a turn", async () => {
  const r = await SELF.fetch("https://gateway.test/readyz");
  expect(r.status).toBe(200);
  expect(await r.json()).toEqual({ ready: true, model: "stories260K", nodes: { ready: 1, total: 1 } });
});

it("says not ready when no node answers", async () => {
  const stub = env.SESSIONS.get(env.SESSIONS.idFromName("readiness-probe-down"));
  const body = await runInDurableObject(stub, async (obj: SessionObject) => {
    // The object's env with every node down (a port nothing listens on).
    (obj as unknown as { env: typeof env }).env = { ...env, NODES: "http://127.0.0.1:9" };
    return (await obj.fetch(new Request("https://session/ready"))).json();
  });
  expect(body).toEqual({ ready: 0, total: 1 });
});
