// GET /v1/models and GET /v1/models/:id: the model this deployment serves.
import { Hono } from "hono";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { GatewayEnv } from "../types.ts";

export const models = new Hono<GatewayEnv>();

const modelObject = (id: string) => ({ id, object: "model", created: 0, owned_by: "dart-edge" });

models.get("/", (c) => c.json({ object: "list", data: [modelObject(c.env.MODEL_ID)] }));

models.get("/:id", (c) => {
  const id = c.req.param("id");
  if (id !== c.env.MODEL_ID) throw new ApiError(404, `The model \`${id}\` does not exist or you do not have access to it.`, { param: "model", code: "model_not_found" });
  return c.json(modelObject(id));
});
