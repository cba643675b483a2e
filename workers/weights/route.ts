// HTTP access to the weights bucket: GET /weights/<key> streams an object (the
// inference node's HttpSource reads through it); POST /weights/<prefix>/_batch with
// {"keys": [...]} returns many objects in one streamed response (each once, MAX_BATCH_BYTES in all); PUT /weights/<key> stores one,
// only with `Authorization: Bearer <WEIGHTS_UPLOAD_TOKEN>` when that var is set
// (seeding the local bucket under `wrangler dev`). Objects are immutable per
// manifest (the manifest carries every sha256), so the store verifies, not HTTP.
import { BATCH_PATH, BATCH_SIZES_HEADER, MAX_BATCH_KEYS } from "../../shared/weights/http-source.ts";
import { bearerIsOneOf } from "../../shared/security/constant-time.ts";
import type { R2BucketLike } from "./r2-source.ts";

export interface WeightsEnv {
  WEIGHTS: R2BucketLike;
  WEIGHTS_UPLOAD_TOKEN?: string;
}

export const WEIGHTS_ROUTE = "/weights/";

const badKey = (key: string) => !key || key.split("/").some((p) => p === "" || p === "." || p === "..");

/** The most bytes one _batch response may carry (a client splits or falls back to GETs beyond). */
export const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/**
 * The objects of `keys` (duplicates served once, in first-seen order) back to back, streamed
 * chunk by chunk, one object after the other, so the Worker buffers none of them; their sizes
 * (R2's metadata, -1 for a missing object) in a header. More than MAX_BATCH_BYTES in all is a 413.
 */
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
  const unique = [...new Set(keys as string[])];
  // get() resolves with the metadata (size) and an unread body stream; bodies are read one by one below.
  const objects = await Promise.all(unique.map((k) => env.WEIGHTS.get(prefix + k)));
  const sizes = objects.map((o) => (o ? o.size : -1));
  const total = sizes.reduce((n, s) => n + Math.max(s, 0), 0);
  if (total > MAX_BATCH_BYTES) {
    await Promise.all(objects.map((o) => o?.body.cancel()));
    return new Response(`the batch holds ${total} bytes, more than ${MAX_BATCH_BYTES}: ask for fewer keys\n`, { status: 413 });
  }
  let next = 0;
  let current: ReadableStreamDefaultReader<Uint8Array> | null = null;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (current) {
          const { done, value } = await current.read();
          if (!done) return controller.enqueue(value);
          current = null;
        }
        while (next < objects.length && !objects[next]) next++;
        if (next >= objects.length) return controller.close();
        current = objects[next++]!.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
      }
    },
    async cancel() {
      await current?.cancel();
      await Promise.all(objects.slice(next).map((o) => o?.body.cancel()));
    },
  });
  return new Response(body, { headers: { "content-type": "application/octet-stream", [BATCH_SIZES_HEADER]: sizes.join(",") } });
}

export async function handleWeightsRequest(request: Request, env: WeightsEnv): Promise<Response> {
  const url = new URL(request.url);
  if (!url.pathname.startsWith(WEIGHTS_ROUTE)) return new Response("not found\n", { status: 404 });
  let key: string;
  try {
    key = decodeURIComponent(url.pathname.slice(WEIGHTS_ROUTE.length));
  } catch {
    return new Response("bad key: not valid percent-encoding\n", { status: 400 });
  }
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
    if (!bearerIsOneOf(request.headers.get("authorization"), [token])) return new Response("uploads not allowed\n", { status: 403 });
    await env.WEIGHTS.put(key, new Uint8Array(await request.arrayBuffer()));
    return new Response(null, { status: 204 });
  }
  return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, PUT, POST (_batch)" } });
}
