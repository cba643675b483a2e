// A shard set behind HTTP: the weights Worker route (workers/weights/worker.ts)
// serving the R2 bucket, for an inference node that runs outside workerd.
import { WeightStoreError, type ObjectSource } from "./source.ts";

export type FetchLike = (input: string, init?: { method?: string; headers?: Record<string, string>; body?: string }) => Promise<Response>;

/** The route's batch endpoint, relative to a shard set's root. */
export const BATCH_PATH = "_batch";
export const BATCH_SIZES_HEADER = "x-weights-sizes";
export const MAX_BATCH_KEYS = 256;

export class HttpSource implements ObjectSource {
  readonly baseUrl: string;
  readonly description: string;
  private readonly fetchFn: FetchLike;

  /** `baseUrl` is the shard set's root, e.g. http://127.0.0.1:8787/weights/stories260K/ */
  constructor(baseUrl: string, fetchFn: FetchLike = (u, i) => fetch(u, i), opts: { batch?: boolean } = {}) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
    this.description = `http ${this.baseUrl}`;
    this.fetchFn = fetchFn;
    if (opts.batch === false) this.getMany = undefined;
  }

  /**
   * POST <root>/_batch {"keys": [...]}: the objects' bytes back to back, their sizes
   * in the x-weights-sizes header (-1: missing). One round trip for many small shards.
   */
  getMany? = async (keys: string[]): Promise<(Uint8Array | null)[]> => {
    if (keys.length > MAX_BATCH_KEYS) throw new RangeError(`at most ${MAX_BATCH_KEYS} keys per batch, got ${keys.length}`);
    // The route serves each key once (first-seen order); a batch over its byte cap is a 413,
    // and then each object comes by its own GET.
    const unique = [...new Set(keys)];
    const url = this.baseUrl + BATCH_PATH;
    const res = await this.fetchFn(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ keys: unique }) });
    if (res.status === 413) {
      await res.body?.cancel();
      const got = new Map<string, Uint8Array | null>();
      for (const k of unique) got.set(k, await this.get(k));
      return keys.map((k) => got.get(k)!);
    }
    if (!res.ok) throw new WeightStoreError(`POST ${url}: HTTP ${res.status} ${await res.text()}`);
    const sizes = (res.headers.get(BATCH_SIZES_HEADER) ?? "").split(",").map(Number);
    const body = new Uint8Array(await res.arrayBuffer());
    if (sizes.length !== unique.length) throw new WeightStoreError(`POST ${url}: ${sizes.length} sizes for ${unique.length} keys`);
    let off = 0;
    const parts = new Map<string, Uint8Array | null>();
    sizes.forEach((n, i) => {
      if (n < 0) return void parts.set(unique[i]!, null);
      parts.set(unique[i]!, body.subarray(off, off + n)); // a short body yields short parts, which verification rejects
      off += n;
    });
    return keys.map((k) => parts.get(k)!);
  };

  async get(key: string): Promise<Uint8Array | null> {
    const res = await this.fetchFn(this.baseUrl + key);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    if (!res.ok) throw new WeightStoreError(`GET ${this.baseUrl + key}: HTTP ${res.status} ${await res.text()}`);
    return new Uint8Array(await res.arrayBuffer());
  }
}
