// HTTP access to the weights bucket: GET /weights/<key> streams an object (the
// inference node's HttpSource reads through it); POST /weights/<prefix>/_batch with
// {"keys": [...]} returns many objects in one response; PUT /weights/<key> stores one,
// only with `Authorization: Bearer <WEIGHTS_UPLOAD_TOKEN>` when that var is set
// (seeding the local bucket under `wrangler dev`). Objects are immutable per
// manifest (the manifest carries every sha256), so the store verifies, not HTTP.
import { BATCH_PATH, BATCH_SIZES_HEADER, MAX_BATCH_KEYS } from "../../shared/weights/http-source.ts";
import type { R2BucketLike } from "./r2-source.ts";

export interface WeightsEnv {
  WEIGHTS: R2BucketLike;
  WEIGHTS_UPLOAD_TOKEN?: string;
}

export const WEIGHTS_ROUTE = "/weights/";

const badKey = (key: string) => !key || key.split("/").some((p) => p === "" || p === "." || p === "..");

async function batch(request: Request, env: WeightsEnv, prefix: string): Promise<Response> {
  let keys: unknown;
  try {
    keys = ((await request.json()) as { keys?: unknown }).keys;
  } catch {
    return new Response("body must be JSON {\"keys\": [...]}\n", { status: 400 });
  }
  if (!Array.isArray(keys) || keys.length > MAX_BATCH_KEYS || keys.some((k) => typeof k !== "string" || badKey(k))) {
    return new Response(`keys must be at most ${MAX_BATCH_KEYS} object keys\n`, { status: 400 });
  }
  const objects = await Promise.all((keys as string[]).map(async (k) => {
    const o = await env.WEIGHTS.get(prefix + k);
    return o ? new Uint8Array(await o.arrayBuffer()) : null;
  }));
  const body = new Uint8Array(objects.reduce((n, o) => n + (o?.byteLength ?? 0), 0));
  let off = 0;
  for (const o of objects) if (o) body.set(o, (off += o.byteLength) - o.byteLength);
  return new Response(body, {
    headers: { "content-type": "application/octet-stream", [BATCH_SIZES_HEADER]: objects.map((o) => (o ? o.byteLength : -1)).join(",") },
  });
}

export async function handleWeightsRequest(request: Request, env: WeightsEnv): Promise<Response> {
  const url = new URL(request.url);
  if (!url.pathname.startsWith(WEIGHTS_ROUTE)) return new Response("not found\n", { status: 404 });
  const key = decodeURIComponent(url.pathname.slice(WEIGHTS_ROUTE.length));
  if (badKey(key)) return new Response("bad key\n", { status: 400 });
  if (request.method === "POST" && (key === BATCH_PATH || key.endsWith("/" + BATCH_PATH))) {
    return batch(request, env, key.slice(0, key.length - BATCH_PATH.length));
  }
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
  return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, PUT, POST (_batch)" } });
}
