// The weight-store client an inference node uses: manifest and base up front,
// FFN neuron shards on demand into a resident set bounded by a byte budget (LRU).
// Every object is checked against the manifest's sha256 before anyone sees it.
import { decodeInto } from "./dtype-codec.ts";
import { sha256Hex } from "./hash.ts";
import { MANIFEST_KEY, neuronSlots, parseManifest, type Manifest, type ObjectRef, type ShardRef } from "./manifest.ts";
import { ShardIntegrityError, WeightBudgetError, WeightStoreError, type ObjectSource } from "./source.ts";
import type { TokenizerData } from "../tokenizer/tokenizer.ts";

export interface WeightStoreOptions {
  /** Most bytes of FFN shards kept resident; default unlimited. */
  budgetBytes?: number;
  /** Parallel requests per ensure() call. */
  concurrency?: number;
  /** Objects per request when the source has getMany (default 64). */
  batchSize?: number;
}

export interface WeightStoreStats {
  /** Bytes received from the source for shards (failed attempts included). */
  bytesFetched: number;
  shardsFetched: number;
  /** Requested shards that were already resident. */
  cacheHits: number;
  evictions: number;
  /** Shards that failed verification once and were fetched again. */
  refetches: number;
  residentBytes: number;
  residentShards: number;
}

export interface ShardId {
  layer: number;
  index: number;
}

interface Resident {
  ref: ShardRef;
  bytes: Uint8Array;
}

export class WeightStore {
  readonly manifest: Manifest;
  readonly source: ObjectSource;
  readonly budgetBytes: number;
  /** Per layer, the slot of each neuron (see Manifest.neuronOrder). */
  readonly slots: Int32Array[];
  private readonly concurrency: number;
  private readonly batchSize: number;
  /** Base tensors decoded to fp32, by manifest name. */
  private readonly baseTensors: Map<string, Float32Array>;
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly resident = new Map<string, Resident>();
  private residentBytes = 0;
  private counters = { bytesFetched: 0, shardsFetched: 0, cacheHits: 0, evictions: 0, refetches: 0 };

  private constructor(source: ObjectSource, manifest: Manifest, base: Map<string, Float32Array>, opts: WeightStoreOptions) {
    this.source = source;
    this.manifest = manifest;
    this.baseTensors = base;
    this.budgetBytes = opts.budgetBytes ?? Infinity;
    this.concurrency = Math.max(1, opts.concurrency ?? 8);
    this.batchSize = Math.max(1, opts.batchSize ?? 64);
    this.slots = neuronSlots(manifest);
    if (!(this.budgetBytes >= 0)) throw new RangeError(`budgetBytes must be >= 0, got ${opts.budgetBytes}`);
  }

  /** Reads and checks the manifest, then fetches and verifies the base blob. */
  static async open(source: ObjectSource, opts: WeightStoreOptions = {}): Promise<WeightStore> {
    const raw = await source.get(MANIFEST_KEY);
    if (!raw) throw new WeightStoreError(`no ${MANIFEST_KEY} in ${source.description}`);
    const manifest = parseManifest(new TextDecoder().decode(raw));
    const base = await fetchVerified(source, manifest.base, () => {});
    const tensors = new Map<string, Float32Array>();
    for (const t of manifest.base.tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      decodeInto(base, t.offset, t.dtype, n, out, 0);
      tensors.set(t.name, out);
    }
    return new WeightStore(source, manifest, tensors, opts);
  }

  /** A base tensor (fp32, engine layout); throws when the manifest has none of that name. */
  tensor(name: string): Float32Array {
    const t = this.baseTensors.get(name);
    if (!t) throw new WeightStoreError(`base blob has no tensor ${name}`);
    return t;
  }

  hasTensor(name: string): boolean {
    return this.baseTensors.has(name);
  }

  /** DART's forward proxy from the base blob, or null when the shard set has none (give it to shared/dart's setForwardProxy). */
  forwardProxy(): { gMax: Float32Array[]; gMean: Float32Array[] } | null {
    if (!this.manifest.forwardProxy) return null;
    const layers = Array.from({ length: this.manifest.config.nLayers }, (_, l) => l);
    return { gMax: layers.map((l) => this.tensor(`blk.${l}.ffn_gmax`)), gMean: layers.map((l) => this.tensor(`blk.${l}.ffn_gmean`)) };
  }

  /** The tokenizer stored with the shard set (verified like every object), or null. */
  async tokenizerData(): Promise<TokenizerData | null> {
    const ref = this.manifest.tokenizer;
    if (!ref) return null;
    const bytes = await fetchVerified(this.source, ref, () => {});
    const t = JSON.parse(new TextDecoder().decode(bytes)) as { pieces: string[]; scores: number[]; bosId: number; eosId: number };
    return { pieces: t.pieces, scores: Float32Array.from(t.scores), bosId: t.bosId, eosId: t.eosId };
  }

  /** Per layer L2 norms of W_down's columns, or null when the shard set has none. */
  downNorms(): Float32Array[] | null {
    if (!this.manifest.downNorms) return null;
    return Array.from({ length: this.manifest.config.nLayers }, (_, l) => this.tensor(`blk.${l}.ffn_down_norm`));
  }

  shardRef(id: ShardId): ShardRef {
    const ref = this.manifest.layers[id.layer]?.[id.index];
    if (!ref) throw new RangeError(`no shard ${id.index} in layer ${id.layer}`);
    return ref;
  }

  /** Index of the shard of `layer` that holds `neuron` (shards tile each layer's slots in order). */
  shardOf(layer: number, neuron: number): number {
    return Math.floor(this.slots[layer]![neuron]! / this.manifest.neuronsPerShard);
  }

  isResident(id: ShardId): boolean {
    return this.resident.has(this.shardRef(id).key);
  }

  /**
   * Makes the shards resident (fetching and verifying the missing ones) and returns
   * their bytes in request order. Evicts least recently used shards outside the
   * request until the resident set fits the budget again.
   */
  async ensure(ids: ShardId[]): Promise<Uint8Array[]> {
    const refs = ids.map((id) => this.shardRef(id));
    const wanted = new Set(refs.map((r) => r.key));
    let needed = 0;
    for (const r of new Map(refs.map((r) => [r.key, r])).values()) needed += r.bytes;
    if (needed > this.budgetBytes) throw new WeightBudgetError(needed, this.budgetBytes);

    const missing = new Map<string, ShardRef>();
    for (const r of refs) {
      const hit = this.resident.get(r.key);
      if (hit) {
        this.counters.cacheHits++;
        this.resident.delete(r.key); // move to most recently used
        this.resident.set(r.key, hit);
      } else if (!missing.has(r.key)) missing.set(r.key, r);
    }
    // Work items: single refs, or batches of refs when the source can get many at once.
    const all = [...missing.values()];
    const per = this.source.getMany ? this.batchSize : 1;
    const queue: ShardRef[][] = [];
    for (let i = 0; i < all.length; i += per) queue.push(all.slice(i, i + per));
    const onBytes = (n: number, refetch: boolean) => {
      this.counters.bytesFetched += n;
      if (refetch) this.counters.refetches++;
    };
    const fetched = new Map<string, Uint8Array>();
    const worker = async () => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) {
        const first = this.source.getMany ? await this.source.getMany(batch.map((r) => r.key)) : undefined;
        for (const [i, r] of batch.entries()) {
          fetched.set(r.key, await fetchVerified(this.source, r, onBytes, first ? first[i] ?? null : undefined));
          this.counters.shardsFetched++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, queue.length) }, worker));
    // Insert in request order, not arrival order, so recency (and eviction) is deterministic.
    for (const r of all) {
      const bytes = fetched.get(r.key)!;
      this.resident.set(r.key, { ref: r, bytes });
      this.residentBytes += bytes.byteLength;
    }

    for (const [key, entry] of this.resident) {
      if (this.residentBytes <= this.budgetBytes) break;
      if (wanted.has(key)) continue;
      this.resident.delete(key);
      this.residentBytes -= entry.bytes.byteLength;
      this.counters.evictions++;
    }
    return refs.map((r) => this.resident.get(r.key)!.bytes);
  }

  stats(): WeightStoreStats {
    return { ...this.counters, residentBytes: this.residentBytes, residentShards: this.resident.size };
  }
}

/**
 * Fetches an object and checks size and sha256; a mismatch is fetched once more
 * (a torn read or a bad cache), a second mismatch is a ShardIntegrityError.
 * `onBytes` sees every attempt's size. `firstAttempt`: bytes already received
 * for the first attempt (from a batch; null = missing there).
 */
export async function fetchVerified(
  source: ObjectSource,
  ref: ObjectRef,
  onBytes: (n: number, refetch: boolean) => void,
  firstAttempt?: Uint8Array | null,
): Promise<Uint8Array> {
  let detail = "";
  for (let attempt = 0; attempt < 2; attempt++) {
    const bytes = attempt === 0 && firstAttempt !== undefined ? firstAttempt : await source.get(ref.key);
    if (!bytes) throw new WeightStoreError(`weight object ${ref.key} is missing from ${source.description}`);
    onBytes(bytes.byteLength, attempt > 0);
    if (bytes.byteLength !== ref.bytes) detail = `${bytes.byteLength} bytes, manifest says ${ref.bytes}`;
    else {
      const sha = await sha256Hex(bytes);
      if (sha === ref.sha256) return bytes;
      detail = `sha256 ${sha}, manifest says ${ref.sha256}`;
    }
  }
  throw new ShardIntegrityError(ref.key, source.description, detail);
}
