// HTTP access to the weights bucket: GET /weights/<key> streams an object (the
// inference node's HttpSource reads through it); PUT /weights/<key> stores one,
// only with `Authorization: Bearer <WEIGHTS_UPLOAD_TOKEN>` when that var is set
// (seeding the local bucket under `wrangler dev`). Objects are immutable per
// manifest (the manifest carries every sha256), so the store verifies, not HTTP.
import type { R2BucketLike } from "./r2-source.ts";

export interface WeightsEnv {
  WEIGHTS: R2BucketLike;
  WEIGHTS_UPLOAD_TOKEN?: string;
}

export const WEIGHTS_ROUTE = "/weights/";

export async function handleWeightsRequest(request: Request, env: WeightsEnv): Promise<Response> {
  const url = new URL(request.url);
  if (!url.pathname.startsWith(WEIGHTS_ROUTE)) return new Response("not found\n", { status: 404 });
  const key = decodeURIComponent(url.pathname.slice(WEIGHTS_ROUTE.length));
  if (!key || key.split("/").some((p) => p === "" || p === "." || p === "..")) return new Response("bad key\n", { status: 400 });
  if (request.method === "GET") {
    const obj = await env.WEIGHTS.get(key);
    if (!obj) return new Response(`no object ${key}\n`, { status: 404 });
    return new Response(obj.body, { headers: { "content-type": "application/octet-stream", "content-length": String(obj.size) } });
  }
  if (request.method === "PUT") {
    const token = env.WEIGHTS_UPLOAD_TOKEN;
    if (!token || request.headers.get("authorization") !== `Bearer ${token}`) return new Response("uploads not allowed\n", { status: 403 });
    await env.WEIGHTS.put(key, new Uint8Array(await request.arrayBuffer()));
    return new Response(null, { status: 204 });
  }
  return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, PUT" } });
}
