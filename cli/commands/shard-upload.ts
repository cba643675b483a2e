// Seeds an R2 bucket with a shard set written by `dart shard`: either the local
// bucket of `wrangler dev` (same on-disk state, written through Miniflare like
// `wrangler r2 object put --local`, but in one process), or any running weights
// Worker through its PUT route.
import { readdir, readFile } from "node:fs/promises";
import { basename, join, relative, resolve } from "node:path";
import { MANIFEST_KEY, parseManifest } from "../../shared/weights/manifest.ts";
import { joinKey } from "../../shared/weights/source.ts";
import { parseFlags, required, UsageError } from "../usage.ts";

export const usage = `dart shard-upload --dir <dir> [--prefix P] (--local [--persist-to DIR] [--bucket NAME] | --url URL [--token T]) [--force]
  Uploads every object of a shard set (manifest last) under <prefix>/ (default: the
  folder's name). --local writes wrangler dev's local R2 state (default persist dir
  .wrangler/state, bucket dart-edge-weights); --url PUTs to a weights Worker route, e.g.
  http://127.0.0.1:8788/weights, with --token or $WEIGHTS_UPLOAD_TOKEN. Skips the
  upload when the bucket already holds the same manifest, unless --force.`;

async function listKeys(root: string, dir = root): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listKeys(root, p)));
    else out.push(relative(root, p).split("\\").join("/"));
  }
  return out;
}

interface Bucket {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

async function localBucket(persistTo: string, bucketName: string): Promise<Bucket> {
  const { Miniflare } = await import("miniflare");
  // wrangler dev keeps local state in <persist-to>/v3; Miniflare's R2 layout there is shared.
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    defaultPersistRoot: join(resolve(persistTo), "v3"),
    r2Persist: true,
    r2Buckets: { BUCKET: bucketName },
  });
  const b = await mf.getR2Bucket("BUCKET");
  return {
    async get(key) {
      const o = await b.get(key);
      return o ? new Uint8Array(await o.arrayBuffer()) : null;
    },
    async put(key, bytes) {
      await b.put(key, bytes);
    },
    close: () => mf.dispose(),
  };
}

function httpBucket(url: string, token: string): Bucket {
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
    token: { type: "string" },
    force: { type: "boolean" },
    json: { type: "boolean" },
  });
  const dir = resolve(required(v, "dir"));
  if (!v.local === !v.url) throw new UsageError("pass exactly one of --local and --url");
  const prefix = v.prefix ?? basename(dir);
  const manifestBytes = new Uint8Array(await readFile(join(dir, MANIFEST_KEY)).catch(() => {
    throw new UsageError(`no ${MANIFEST_KEY} in ${dir}: run dart shard first`);
  }));
  const manifest = parseManifest(new TextDecoder().decode(manifestBytes));
  const token = v.token ?? process.env.WEIGHTS_UPLOAD_TOKEN ?? "";
  if (v.url && !token) throw new UsageError("--url needs --token or $WEIGHTS_UPLOAD_TOKEN");
  const bucket = v.local ? await localBucket(v["persist-to"] ?? ".wrangler/state", v.bucket ?? "dart-edge-weights") : httpBucket(v.url!, token);
  try {
    const remote = await bucket.get(joinKey(prefix, MANIFEST_KEY));
    const same = remote !== null && Buffer.from(remote).equals(Buffer.from(manifestBytes));
    let objects = 0, bytes = 0;
    if (!same || v.force) {
      const wanted = new Set([manifest.base.key, ...(manifest.tokenizer ? [manifest.tokenizer.key] : []), ...manifest.layers.flat().map((s) => s.key)]);
      const keys = (await listKeys(dir)).filter((k) => wanted.has(k));
      if (keys.length !== wanted.size) throw new UsageError(`${dir} lacks ${wanted.size - keys.length} objects its manifest lists`);
      const queue = [...keys];
      const worker = async () => {
        for (let k = queue.shift(); k; k = queue.shift()) {
          const b = new Uint8Array(await readFile(join(dir, k)));
          await bucket.put(joinKey(prefix, k), b);
          objects++;
          bytes += b.byteLength;
        }
      };
      await Promise.all(Array.from({ length: 8 }, worker));
      await bucket.put(joinKey(prefix, MANIFEST_KEY), manifestBytes); // last: readers never see a manifest before its objects
      objects++;
    }
    const summary = { prefix, skipped: same && !v.force, objects, bytes, target: v.local ? `local ${v.bucket ?? "dart-edge-weights"}` : v.url };
    if (v.json) process.stdout.write(JSON.stringify(summary) + "\n");
    else process.stdout.write(summary.skipped ? `${prefix}: bucket already holds this manifest, nothing uploaded\n` : `${prefix}: uploaded ${objects} objects (${bytes} bytes) to ${summary.target}\n`);
  } finally {
    await bucket.close();
  }
}
