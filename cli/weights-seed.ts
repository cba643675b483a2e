// Seeding the local weight store for the stack: cut the model into a shard set
// (cached under .cache/shards/<name>) and upload it into wrangler dev's local R2
// state. Both steps are skipped when their result is already there, so a
// launcher can call this on every start.
import { existsSync, readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { computeForwardProxy, downColumnNorms } from "../shared/dart/forward-proxy.ts";
import { ggufTokenizer } from "../shared/model/gguf.ts";
import { isGguf } from "../shared/model/load.ts";
import { readLlama2cTokenizer, type TokenizerData } from "../shared/tokenizer/tokenizer.ts";
import { ggufQ8Model } from "../shared/engine/q8-model.ts";
import { buildShardSet, quantizeForShards, type BuildOptions, type Q8Weights } from "../shared/weights/build.ts";
import type { ShardDtype } from "../shared/weights/dtype-codec.ts";
import { MANIFEST_KEY, MANIFEST_VERSION, parseManifest, type Manifest } from "../shared/weights/manifest.ts";
import { joinKey } from "../shared/weights/source.ts";
import { FolderSource } from "../workers/weights/folder-source.ts";
import { loadModelFiles } from "./model-files.ts";
import { UsageError } from "./usage.ts";

/** The root wrangler.toml binds this bucket as WEIGHTS. */
export const DEFAULT_BUCKET = "dart-edge-weights";

/** The tokenizer loadBundle would use, as data: --tokenizer, the GGUF's own, or tokenizer.bin / tok<vocab>.bin beside the model. */
export function tokenizerData(modelPath: string, tokenizerPath: string | undefined, vocabSize: number): TokenizerData {
  if (tokenizerPath) return readLlama2cTokenizer(readFileSync(tokenizerPath), vocabSize);
  const bytes = new Uint8Array(readFileSync(modelPath));
  if (isGguf(bytes)) return ggufTokenizer(bytes);
  for (const name of ["tokenizer.bin", `tok${vocabSize}.bin`]) {
    const p = join(dirname(modelPath), name);
    if (existsSync(p)) return readLlama2cTokenizer(readFileSync(p), vocabSize);
  }
  throw new UsageError(`no tokenizer for ${modelPath}: pass --tokenizer <tokenizer.bin>`);
}

export interface ShardFolderOptions extends Partial<Omit<BuildOptions, "tokenizer" | "forwardProxy" | "downNorms">> {
  tokenizerPath?: string;
  /** Leave out DART's forward proxy and W_down norms. */
  noPriors?: boolean;
  /** Called after each object written (progress). */
  onObject?: (done: number, total: number) => void;
}

/**
 * A model file in Q8_0 as `--weights q8_0` loads it: a GGUF file's q8_0 tensors as they are
 * (ggufQ8Model), anything else quantized once (quantizeForShards).
 */
function q8WeightsOf(modelPath: string, model: Parameters<typeof quantizeForShards>[0]): Q8Weights {
  const bytes = new Uint8Array(readFileSync(modelPath));
  if (!isGguf(bytes)) return quantizeForShards(model);
  const q = ggufQ8Model(bytes, { maxContext: Number.MAX_SAFE_INTEGER });
  return { weights: q.weights as Q8Weights["weights"], ffn: q.ffn! };
}

/** Writes the shard set of a model file into `out` (stale shards removed first). */
export async function shardModelToFolder(modelPath: string, out: string, opts: ShardFolderOptions = {}): Promise<Manifest> {
  // The shard set records the file's own context length; nodes bound their KV cache with --ctx.
  const { model } = loadModelFiles(modelPath, opts.tokenizerPath, { maxContext: Number.MAX_SAFE_INTEGER });
  const q8 = opts.dtype === "q8_0" ? q8WeightsOf(modelPath, model) : undefined;
  const folder = new FolderSource(out);
  await rm(join(folder.root, "ffn"), { recursive: true, force: true });
  const n = opts.neuronsPerShard ?? 1;
  // Base blob, tokenizer, then every layer's shards.
  const total = 2 + model.config.nLayers * Math.ceil(model.config.hiddenDim / n);
  let written = 0;
  const put = async (key: string, bytes: Uint8Array) => {
    await folder.put(key, bytes);
    opts.onObject?.(++written, total);
  };
  return buildShardSet(
    model,
    {
      neuronsPerShard: n,
      dtype: opts.dtype,
      q8,
      order: opts.order,
      tokenizer: tokenizerData(modelPath, opts.tokenizerPath, model.config.vocabSize),
      // DART's priors from the weights the nodes will hold (Q8_0 ones for a q8_0 set), as a node computes them itself.
      forwardProxy: opts.noPriors ? undefined : computeForwardProxy(model.config, model.weights, undefined, q8?.ffn),
      downNorms: opts.noPriors ? undefined : downColumnNorms(model.config, model.weights, q8?.ffn),
    },
    put,
  );
}

export interface BucketLike {
  get(key: string): Promise<Uint8Array | null>;
  put(key: string, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

/** wrangler dev's local R2 bucket under `persistTo` (Miniflare, the layout `wrangler r2 object put --local` writes). */
export async function localBucket(persistTo: string, bucketName = DEFAULT_BUCKET): Promise<BucketLike> {
  const { Miniflare } = await import("miniflare");
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

export interface UploadResult {
  prefix: string;
  skipped: boolean;
  objects: number;
  bytes: number;
}

/** Uploads every object of the shard set in `dir` under `prefix/`, manifest last; skips when the bucket holds the same manifest. */
export async function uploadShardSet(dir: string, bucket: BucketLike, prefix: string, force = false, onObject?: (done: number, total: number) => void): Promise<UploadResult> {
  const manifestPath = join(dir, MANIFEST_KEY);
  if (!existsSync(manifestPath)) throw new UsageError(`no ${MANIFEST_KEY} in ${dir}: run dart shard first`);
  const manifestBytes = new Uint8Array(readFileSync(manifestPath));
  const manifest = parseManifest(new TextDecoder().decode(manifestBytes));
  const remote = await bucket.get(joinKey(prefix, MANIFEST_KEY));
  if (!force && remote !== null && Buffer.from(remote).equals(Buffer.from(manifestBytes))) return { prefix, skipped: true, objects: 0, bytes: 0 };
  const keys = [manifest.base.key, ...(manifest.tokenizer ? [manifest.tokenizer.key] : []), ...manifest.layers.flat().map((s) => s.key)];
  const missing = keys.filter((k) => !existsSync(join(dir, k)));
  if (missing.length) throw new UsageError(`${dir} lacks ${missing.length} objects its manifest lists (${missing[0]}, ...)`);
  let objects = 0, bytes = 0;
  const queue = [...keys];
  const worker = async () => {
    for (let k = queue.shift(); k; k = queue.shift()) {
      const b = new Uint8Array(await readFile(join(dir, k)));
      await bucket.put(joinKey(prefix, k), b);
      objects++;
      bytes += b.byteLength;
      onObject?.(objects, keys.length + 1);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  await bucket.put(joinKey(prefix, MANIFEST_KEY), manifestBytes); // last: readers never see a manifest before its objects
  onObject?.(keys.length + 1, keys.length + 1);
  return { prefix, skipped: false, objects: objects + 1, bytes };
}

export interface SeedOptions {
  modelPath: string;
  /** wrangler's --persist-to folder (the stack's state). */
  persistDir: string;
  bucket?: string;
  /**
   * Key prefix in the bucket; default the model file's name without extension (stories260K),
   * followed by -<dtype> when a dtype is given (stories260K-q8_0), so sets of one model in two
   * formats never share keys.
   */
  prefix?: string;
  /** Where the shard set is cached; default .cache/shards/<prefix>-n<neuronsPerShard>-<dtype or native>-f<SHARD_CACHE_FORMAT> in the repository. */
  cacheDir?: string;
  neuronsPerShard?: number;
  /** Shard dtype (dart shard --dtype); default the model's own (f32 for a llama2.c file). */
  dtype?: ShardDtype;
}

/**
 * Version of the cached shard sets: the manifest version and the shard builder's layout.
 * Bump SHARD_LAYOUT whenever shared/weights/build.ts writes different bytes for the same
 * model (layout, dtype, neuron order) without a new manifest version, so a set cached by an
 * older build is never served as current.
 */
const SHARD_LAYOUT = 1;
export const SHARD_CACHE_FORMAT = `${MANIFEST_VERSION}.${SHARD_LAYOUT}`;

/** A model's name from its file: the file name without extension (stories260K.bin -> stories260K). */
export function modelNameOf(modelPath: string): string {
  return basename(modelPath).replace(/\.[^.]*$/, "");
}

/**
 * The launcher's cached shard set of a model: one folder per shard size, dtype and cache format,
 * so a set is never replaced under a reader (launchers run in parallel) and an f32 and a q8_0 set
 * of one model never mix.
 */
export function shardCacheDir(modelPath: string, neuronsPerShard: number, dtype?: ShardDtype): string {
  return resolve(import.meta.dirname, "..", ".cache", "shards", `${modelNameOf(modelPath)}-n${neuronsPerShard}-${dtype ?? "native"}-f${SHARD_CACHE_FORMAT}`);
}

/** Makes sure the local R2 bucket holds the model's shard set; returns what it did. */
export async function seedLocalWeights(opts: SeedOptions): Promise<UploadResult & { manifest: Manifest }> {
  const dtype = opts.dtype;
  const prefix = opts.prefix ?? modelNameOf(opts.modelPath) + (dtype ? `-${dtype}` : "");
  const n = opts.neuronsPerShard ?? 1;
  const cacheDir = opts.cacheDir ?? shardCacheDir(opts.modelPath, n, dtype);
  const cached = (): Manifest | null => {
    const file = join(cacheDir, MANIFEST_KEY);
    if (!existsSync(file)) return null;
    const m = parseManifest(readFileSync(file, "utf8"));
    // The model file is trusted not to change under the same name.
    return m.neuronsPerShard === n && (!dtype || m.dtype === dtype) ? m : null;
  };
  let manifest = cached();
  if (!manifest) {
    // Several launchers may seed at once (test files in parallel on a fresh checkout): each
    // shards into its own folder and renames it into place, so none reads a half-written set.
    const tmp = `${cacheDir}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
    try {
      await shardModelToFolder(opts.modelPath, tmp, { neuronsPerShard: n, dtype });
      manifest = cached(); // another launcher may have finished first
      if (!manifest) {
        if (existsSync(join(cacheDir, MANIFEST_KEY))) {
          throw new Error(`${cacheDir} holds a shard set of another size than ${n} neurons per shard${dtype ? ` or another dtype than ${dtype}` : ""}: remove it or pick another cache folder`);
        }
        await mkdir(dirname(cacheDir), { recursive: true });
        try {
          await rename(tmp, cacheDir);
        } catch (e) {
          if (!cached()) throw e;
        }
        manifest = cached();
        if (!manifest) throw new Error(`no shard set of ${n} neurons per shard${dtype ? ` in ${dtype}` : ""} in ${cacheDir} after sharding`);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
  const bucket = await localBucket(opts.persistDir, opts.bucket ?? DEFAULT_BUCKET);
  try {
    return { ...(await uploadShardSet(cacheDir, bucket, prefix)), manifest };
  } finally {
    await bucket.close();
  }
}
