// The weight-store client an inference node uses: manifest and base up front,
// FFN neuron shards on demand into a resident set bounded by a byte budget (LRU).
// Every object is checked against the manifest's sha256 before anyone sees it.
import type { Matrix } from "../engine/engine-weights.ts";
import { isQ8 } from "../model/q8.ts";
import { decodeInto } from "./dtype-codec.ts";
import { decodeQ8Matrix } from "./q8-codec.ts";
import { sha256Hex } from "./hash.ts";
import { MANIFEST_KEY, neuronSlots, parseManifest, type Manifest, type ObjectRef, type ShardRef } from "./manifest.ts";
import { ShardIntegrityError, WeightBudgetError, WeightStoreError, type ObjectSource } from "./source.ts";
import { tokenizerDataFromJson, type TokenizerData } from "../tokenizer/tokenizer.ts";

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

/** What one turn (or any span) cost the store: the counters of `after` minus those of `before`. */
export function storeDelta(after: WeightStoreStats, before: WeightStoreStats): Pick<WeightStoreStats, "bytesFetched" | "shardsFetched" | "cacheHits" | "evictions"> {
  return {
    bytesFetched: after.bytesFetched - before.bytesFetched,
    shardsFetched: after.shardsFetched - before.shardsFetched,
    cacheHits: after.cacheHits - before.cacheHits,
    evictions: after.evictions - before.evictions,
  };
}

/**
 * Where resident shards live when the store keeps no bytes of its own: a node's FFN bundles,
 * decoded once into their slots (shared/weights/resident-ffn.ts). The store still decides what
 * is resident (budget, LRU, counters); the sink holds the only copy.
 */
export interface ShardSink {
  /** Shards just fetched and verified: decode them now; the store drops its bytes afterwards. */
  admit(shards: { id: ShardId; bytes: Uint8Array }[]): void;
  /** Shards no longer resident: free what they hold. */
  evict(ids: ShardId[]): void;
}

interface Resident {
  ref: ShardRef;
  id: ShardId;
  /** Null when a sink holds the shard. */
  bytes: Uint8Array | null;
}

const NO_BYTES = new Uint8Array(0);

export class WeightStore {
  readonly manifest: Manifest;
  readonly source: ObjectSource;
  readonly budgetBytes: number;
  /** Per layer, the slot of each neuron (see Manifest.neuronOrder). */
  readonly slots: Int32Array[];
  private readonly concurrency: number;
  private readonly batchSize: number;
  /** Base tensors decoded to fp32 (q8_0 matrices: to the engine's Q8_0 layout), by manifest name. */
  private readonly baseTensors: Map<string, Matrix>;
  /** Map order is recency order: the first entry is the least recently used. */
  private readonly resident = new Map<string, Resident>();
  private residentBytes = 0;
  /** Fetches under way, by key, so concurrent ensure() calls share them. */
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private counters = { bytesFetched: 0, shardsFetched: 0, cacheHits: 0, evictions: 0, refetches: 0 };
  private sink: ShardSink | null = null;

  private constructor(source: ObjectSource, manifest: Manifest, base: Map<string, Matrix>, opts: WeightStoreOptions) {
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
    const tensors = new Map<string, Matrix>();
    for (const t of manifest.base.tensors) {
      if (t.dtype === "q8_0") {
        tensors.set(t.name, decodeQ8Matrix(base, t.offset, t.shape[0]!, t.shape[1]!));
        continue;
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      const out = new Float32Array(n);
      decodeInto(base, t.offset, t.dtype, n, out, 0);
      tensors.set(t.name, out);
    }
    return new WeightStore(source, manifest, tensors, opts);
  }

  /** A base tensor (fp32, engine layout); throws when the manifest has none of that name, or holds it in Q8_0 (see matrix()). */
  tensor(name: string): Float32Array {
    const t = this.matrix(name);
    if (isQ8(t)) throw new WeightStoreError(`base tensor ${name} is Q8_0: read it with matrix()`);
    return t;
  }

  /** A base matrix as the engine holds it: fp32, or Q8_0 (int8s and scales, never dequantized) in a q8_0 set. */
  matrix(name: string): Matrix {
    const t = this.baseTensors.get(name);
    if (!t) throw new WeightStoreError(`base blob has no tensor ${name}`);
    return t;
  }

  hasTensor(name: string): boolean {
    return this.baseTensors.has(name);
  }

  /**
   * Drops the store's references to the base tensors an engine has taken (embeddings, attention,
   * norms, classifier), so a node holds them once, in the engine (the WASM backend copies them
   * into its memory). Keeps DART's forward proxy and W_down norms, which shared/dart reads from
   * here. tensor() of a released name throws afterwards.
   */
  releaseEngineTensors(): void {
    for (const name of [...this.baseTensors.keys()]) {
      if (!/\.ffn_(gmax|gmean|down_norm)$/.test(name)) this.baseTensors.delete(name);
    }
  }

  /** Bytes of decoded base tensors the store still references. */
  baseBytesHeld(): number {
    let n = 0;
    for (const t of this.baseTensors.values()) n += isQ8(t) ? t.q.byteLength + t.d.byteLength : t.byteLength;
    return n;
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
    return tokenizerDataFromJson(new TextDecoder().decode(bytes));
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
   * From now on `sink` holds resident shards and the store none of their bytes. The sink must
   * already hold every shard resident now (their bytes are dropped here); the ids are returned.
   */
  attach(sink: ShardSink): ShardId[] {
    this.sink = sink;
    const ids: ShardId[] = [];
    for (const entry of this.resident.values()) {
      entry.bytes = null;
      ids.push(entry.id);
    }
    return ids;
  }

  /**
   * Makes the shards resident (fetching and verifying the missing ones) and returns
   * their bytes in request order. Evicts least recently used shards outside the
   * request until the resident set fits the budget again. A request larger than the
   * budget is a WeightBudgetError, unless `overBudget` (the set then stays over budget
   * until a later ensure() or trim()). With a sink attached, fetched shards go to the sink and
   * the bytes of a shard that was resident already are not returned (an empty array instead).
   */
  async ensure(ids: ShardId[], opts: { overBudget?: boolean } = {}): Promise<Uint8Array[]> {
    const refs = ids.map((id) => this.shardRef(id));
    const unique = [...new Map(refs.map((r) => [r.key, r])).values()];
    const needed = unique.reduce((n, r) => n + r.bytes, 0);
    if (needed > this.budgetBytes && !opts.overBudget) throw new WeightBudgetError(needed, this.budgetBytes);

    // Bytes of this request, held locally: another caller may evict while we await.
    const got = new Map<string, Uint8Array | null>();
    const waits: Promise<void>[] = [];
    const toFetch: ShardRef[] = [];
    for (const r of unique) {
      const hit = this.resident.get(r.key);
      const pending = this.inflight.get(r.key);
      if (hit) {
        this.counters.cacheHits++;
        got.set(r.key, hit.bytes);
      } else if (pending) {
        // Another ensure() is fetching it: share that fetch instead of a second one.
        waits.push(pending.then((b) => void got.set(r.key, b)));
      } else toFetch.push(r);
    }
    // One promise per fetched key, registered before any await so concurrent callers find it.
    const settle = new Map<string, { resolve(b: Uint8Array): void; reject(e: unknown): void }>();
    for (const r of toFetch) {
      const p = new Promise<Uint8Array>((resolve, reject) => settle.set(r.key, { resolve, reject }));
      p.catch(() => {}); // a failure is reported to the caller that fetched it
      this.inflight.set(r.key, p);
      waits.push(p.then((b) => void got.set(r.key, b)));
    }
    const per = this.source.getMany ? this.batchSize : 1;
    const queue: ShardRef[][] = [];
    for (let i = 0; i < toFetch.length; i += per) queue.push(toFetch.slice(i, i + per));
    const onBytes = (n: number, refetch: boolean) => {
      this.counters.bytesFetched += n;
      if (refetch) this.counters.refetches++;
    };
    const worker = async () => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) {
        let first: (Uint8Array | null)[] | undefined;
        try {
          first = this.source.getMany ? await this.source.getMany(batch.map((r) => r.key)) : undefined;
        } catch (e) {
          for (const r of batch) settle.get(r.key)!.reject(e);
          continue;
        }
        for (const [i, r] of batch.entries()) {
          try {
            settle.get(r.key)!.resolve(await fetchVerified(this.source, r, onBytes, first ? first[i] ?? null : undefined));
            this.counters.shardsFetched++;
          } catch (e) {
            settle.get(r.key)!.reject(e);
          }
        }
      }
    };
    try {
      await Promise.all([...Array.from({ length: Math.min(this.concurrency, queue.length) }, worker), ...waits]);
    } finally {
      for (const r of toFetch) this.inflight.delete(r.key);
    }

    // Request order sets recency (deterministic eviction); shards evicted meanwhile come back.
    const admitted: { id: ShardId; bytes: Uint8Array }[] = [];
    const idOf = new Map(ids.map((id, i) => [refs[i]!.key, id]));
    for (const r of unique) {
      const old = this.resident.get(r.key);
      const bytes = got.get(r.key) ?? null;
      if (old) this.resident.delete(r.key);
      else if (!bytes) continue; // a sink's shard evicted by another caller meanwhile: not resident, not ours to re-admit
      else {
        this.residentBytes += r.bytes;
        admitted.push({ id: idOf.get(r.key)!, bytes });
      }
      this.resident.set(r.key, { ref: r, id: idOf.get(r.key)!, bytes: this.sink ? null : (old?.bytes ?? bytes) });
    }
    const evicted = this.evictToBudget(new Set(got.keys()));
    if (this.sink) {
      // Evicted first, so the new shards can take their slots.
      if (evicted.length) this.sink.evict(evicted);
      if (admitted.length) this.sink.admit(admitted);
    }
    return refs.map((r) => got.get(r.key) ?? NO_BYTES);
  }

  /** Drops least recently used shards outside `keep` until the resident set fits the budget. */
  private evictToBudget(keep: Set<string>): ShardId[] {
    const out: ShardId[] = [];
    for (const [key, entry] of this.resident) {
      if (this.residentBytes <= this.budgetBytes) break;
      if (keep.has(key)) continue;
      this.resident.delete(key);
      this.residentBytes -= entry.ref.bytes;
      this.counters.evictions++;
      out.push(entry.id);
    }
    return out;
  }

  /**
   * The bytes of a resident shard without fetching or counting (a synchronous builder
   * reads shards an earlier ensure() made resident); null when it is not resident.
   */
  residentShard(id: ShardId): Uint8Array | null { // null too when a sink holds it
    return this.resident.get(this.shardRef(id).key)?.bytes ?? null;
  }

  /**
   * Marks `keep` most recently used (no fetch, no hit counted), then evicts least recently
   * used shards outside it until the resident set fits the budget: how a node shrinks back
   * after a turn that needed more than the budget (ensure with overBudget).
   */
  trim(keep: ShardId[] = []): void {
    const keys = new Set(keep.map((id) => this.shardRef(id).key));
    for (const key of keys) {
      const entry = this.resident.get(key);
      if (!entry) continue;
      this.resident.delete(key);
      this.resident.set(key, entry);
    }
    const evicted = this.evictToBudget(keys);
    if (this.sink && evicted.length) this.sink.evict(evicted);
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
