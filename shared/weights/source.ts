// Where a shard set's objects come from. Implementations: a folder (Node), an R2
// bucket binding (workerd), HTTP (a Worker route serving the bucket), memory.

export interface ObjectSource {
  /** For error messages, e.g. "folder /data/shards" or "r2 WEIGHTS/stories260K/". */
  readonly description: string;
  /** The object's bytes, or null when it does not exist. Throws on transport errors. */
  get(key: string): Promise<Uint8Array | null>;
  /** Several objects in one round trip (HTTP batch route), in order; sources without it get one by one. */
  getMany?(keys: string[]): Promise<(Uint8Array | null)[]>;
}

export class WeightStoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WeightStoreError";
  }
}

/** An object whose bytes did not match the manifest, even after one refetch. */
export class ShardIntegrityError extends WeightStoreError {
  readonly key: string;
  constructor(key: string, source: string, detail: string) {
    super(`weight object ${key} from ${source} failed verification twice (${detail}); refusing to use it`);
    this.name = "ShardIntegrityError";
    this.key = key;
  }
}

/** A request for more resident bytes than the store's budget allows. */
export class WeightBudgetError extends WeightStoreError {
  constructor(needed: number, budget: number) {
    super(`the requested shards need ${needed} resident bytes, more than the budget of ${budget} bytes`);
    this.name = "WeightBudgetError";
  }
}

/** Source keys live under an optional prefix (one bucket can hold several models). */
export function joinKey(prefix: string, key: string): string {
  if (!prefix) return key;
  return prefix.endsWith("/") ? prefix + key : `${prefix}/${key}`;
}

/** Objects held in memory (built shard sets in tests and benchmarks). */
export class MemorySource implements ObjectSource {
  readonly description = "memory";
  readonly objects = new Map<string, Uint8Array>();
  async get(key: string): Promise<Uint8Array | null> {
    return this.objects.get(key) ?? null;
  }
  put = async (key: string, bytes: Uint8Array): Promise<void> => {
    this.objects.set(key, bytes);
  };
}
