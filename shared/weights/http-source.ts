// A shard set behind HTTP: the weights Worker route (workers/weights/worker.ts)
// serving the R2 bucket, for an inference node that runs outside workerd.
import { WeightStoreError, type ObjectSource } from "./source.ts";

export type FetchLike = (input: string, init?: { method?: string; headers?: Record<string, string> }) => Promise<Response>;

export class HttpSource implements ObjectSource {
  readonly baseUrl: string;
  readonly description: string;
  private readonly fetchFn: FetchLike;

  /** `baseUrl` is the shard set's root, e.g. http://127.0.0.1:8787/weights/stories260K/ */
  constructor(baseUrl: string, fetchFn: FetchLike = (u, i) => fetch(u, i)) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
    this.description = `http ${this.baseUrl}`;
    this.fetchFn = fetchFn;
  }

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
