// GET /weights/<prefix>/<key> and POST /weights/<prefix>/_batch: the weight store (R2
// bucket WEIGHTS) for inference nodes, mounted in the gateway so a node needs only the
// gateway's address. Not for API users: it takes the nodes' bearer (WEIGHTS_TOKEN, else
// NODE_TOKEN), never an API key, and is closed when neither is set. Uploads stay with the
// weights Worker (workers/weights/worker.ts, WEIGHTS_UPLOAD_TOKEN) or `dart shard-upload`.
import type { Context } from "hono";
import { sameText } from "../../shared/security/constant-time.ts";
import { handleWeightsRequest } from "../../workers/weights/route.ts";
import { authFailureGuard } from "../middleware/auth-failures.ts";
import type { GatewayEnv } from "../types.ts";

export async function weightsRoute(c: Context<GatewayEnv>): Promise<Response> {
  const token = c.env.WEIGHTS_TOKEN || c.env.NODE_TOKEN || "";
  if (!token) return c.text("the weights route is closed: set NODE_TOKEN or WEIGHTS_TOKEN\n", 403);
  if (!sameText(c.req.header("authorization") ?? "", `Bearer ${token}`)) {
    await authFailureGuard(c).failed(); // a cheap comparison: counted, not checked beforehand
    return c.text("missing or wrong node token\n", 401);
  }
  if (c.req.method === "PUT") return c.text("uploads go through the weights Worker or dart shard-upload\n", 405);
  return handleWeightsRequest(c.req.raw, { WEIGHTS: c.env.WEIGHTS });
}
