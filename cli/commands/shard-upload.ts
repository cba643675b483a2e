// Seeds an R2 bucket with a shard set written by `dart shard`: either the local
// bucket of `wrangler dev` (same on-disk state, written through Miniflare like
// `wrangler r2 object put --local`, but in one process), or any running weights
// Worker through its PUT route.
import { readFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { parseFlags, required, UsageError } from "../usage.ts";
import { DEFAULT_BUCKET, localBucket, uploadShardSet, type BucketLike } from "../weights-seed.ts";
import { progress } from "../progress.ts";

export const usage = `dart shard-upload --dir <dir> [--prefix P] (--local [--persist-to DIR] [--bucket NAME] | --url URL [--token-file F]) [--force] [--json]
  Uploads every object of a shard set (manifest last) under <prefix>/ (default: the
  folder's name). --local writes wrangler dev's local R2 state (default persist dir
  .wrangler/state, bucket ${DEFAULT_BUCKET}); --url PUTs to a weights Worker route, e.g.
  http://127.0.0.1:8788/weights, with the upload token from $WEIGHTS_UPLOAD_TOKEN or the
  first line of --token-file (never the command line: any local user can read it). Skips
  the upload when the bucket already holds the same manifest, unless --force.`;

/** The upload token: a file (first line) or the environment; on argv it is refused. */
function uploadToken(v: { token?: string; "token-file"?: string }): string {
  if (v.token !== undefined) {
    throw new UsageError("--token is not accepted: a command line is visible to every local user; set $WEIGHTS_UPLOAD_TOKEN or pass --token-file <file>");
  }
  if (v["token-file"] !== undefined) {
    let text: string;
    try {
      text = readFileSync(v["token-file"], "utf8");
    } catch (e) {
      throw new UsageError(`cannot read --token-file ${v["token-file"]}: ${(e as Error).message}`);
    }
    const token = text.split(/\r?\n/)[0]!.trim();
    if (!token) throw new UsageError(`--token-file ${v["token-file"]} is empty`);
    return token;
  }
  return process.env.WEIGHTS_UPLOAD_TOKEN ?? "";
}

function httpBucket(url: string, token: string): BucketLike {
  const base = url.endsWith("/") ? url : url + "/";
  return {
    async get(key) {
      const r = await fetch(base + key);
      if (r.status === 404) return null;
      if (!r.ok) throw new Error(`GET ${base + key}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    },
    async put(key, bytes) {
      const r = await fetch(base + key, { method: "PUT", body: bytes as Uint8Array<ArrayBuffer>, headers: { authorization: `Bearer ${token}` } });
      if (!r.ok) throw new Error(`PUT ${base + key}: HTTP ${r.status} ${await r.text()}`);
    },
    close: async () => {},
  };
}

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    dir: { type: "string" },
    prefix: { type: "string" },
    local: { type: "boolean" },
    "persist-to": { type: "string" },
    bucket: { type: "string" },
    url: { type: "string" },
    token: { type: "string" }, // refused with a clear message (uploadToken)
    "token-file": { type: "string" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  });
  const dir = resolve(required(v, "dir"));
  if (!v.local === !v.url) throw new UsageError("pass exactly one of --local and --url");
  const token = uploadToken(v);
  if (v.url && !token) throw new UsageError("--url needs the upload token in $WEIGHTS_UPLOAD_TOKEN or --token-file <file>");
  const bucketName = v.bucket ?? DEFAULT_BUCKET;
  const bucket = v.local ? await localBucket(v["persist-to"] ?? ".wrangler/state", bucketName) : httpBucket(v.url!, token);
  try {
    const show = progress("upload", v.json === true);
    const r = await uploadShardSet(dir, bucket, v.prefix ?? basename(dir), v.force, (d, t) => show(d, t, "objects"));
    show.done();
    const target = v.local ? `local ${bucketName}` : v.url;
    if (v.json) process.stdout.write(JSON.stringify({ ...r, target }) + "\n");
    else process.stdout.write(r.skipped ? `${r.prefix}: bucket already holds this manifest, nothing uploaded\n` : `${r.prefix}: uploaded ${r.objects} objects (${r.bytes} bytes) to ${target}\n`);
  } finally {
    await bucket.close();
  }
}
