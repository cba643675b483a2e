// A node serving from the weight store: which FFN shards a turn can need, making them
// resident before the (synchronous) generation starts, building the pruner's compacted
// FFNs from them, and shrinking back to the byte budget after the turn.
//
// DART traces densely: a new prefill runs the whole FFN and feeds the tracer, and the
// masks built from it can keep any neuron; mid-turn re-masks (dart-paper's dense
// re-trace, dart's re-mask with its mean-compensation bias over every pruned neuron)
// can too. So a turn of a tracing method needs every shard resident; only the fixed
// masks (static, random) need just their kept sets. A budget below the whole FFN is
// then exceeded during the turn and trimmed afterwards, keeping the final masks' shards,
// and the next tracing turn refetches what was evicted.
import type { Transformer } from "../../shared/engine/transformer.ts";
import { MaskingPruner, type PrunerOptions } from "../../shared/dart/masking-pruner.ts";
import type { DartSettings } from "../../shared/dart/settings.ts";
import { FfnDeltaLoader, shardsForKept } from "../../shared/weights/ffn-loader.ts";
import type { ShardId, WeightStore, WeightStoreStats } from "../../shared/weights/store.ts";

/** What one turn cost the weight store (counter deltas over prepare + turn + trim). */
export interface TurnWeightStats {
  /** "all": every FFN shard (a tracing method); "kept": the fixed masks' shards; "none": dense. */
  need: "all" | "kept" | "none";
  shardsNeeded: number;
  bytesFetched: number;
  shardsFetched: number;
  cacheHits: number;
  evictions: number;
  /** Resident after the turn's trim. */
  residentBytes: number;
  /** Synchronous rebuilds of a layer's CompactFfn from resident shards during the turn. */
  layersBuilt: number;
  /** Time spent making the turn's shards resident before generating. */
  prepareMs: number;
}

const FIXED = new Set(["static", "random"]);

export class NodeWeights {
  readonly store: WeightStore;
  readonly loader: FfnDeltaLoader;
  readonly prunerOptions: PrunerOptions;
  private readonly tf: Transformer;
  /** The last kept set built per layer during the current turn (the final masks at its end). */
  private built = new Map<number, Int32Array>();
  private layersBuilt = 0;
  private fixedMasks = new Map<string, (Int32Array | null)[]>();
  private before: WeightStoreStats | null = null;
  private need: TurnWeightStats["need"] = "none";
  private shardsNeeded = 0;
  private prepareMs = 0;

  constructor(store: WeightStore, tf: Transformer) {
    this.store = store;
    this.tf = tf;
    this.loader = new FfnDeltaLoader(store);
    this.prunerOptions = {
      ffnBuilder: (layer, kept) => {
        this.built.set(layer, kept);
        this.layersBuilt++;
        return this.loader.buildResident(layer, kept);
      },
    };
  }

  private allShards(): ShardId[] {
    return this.store.manifest.layers.flatMap((refs, layer) => refs.map((_, index) => ({ layer, index })));
  }

  private keptShards(kept: Iterable<[number, Int32Array | null]>): ShardId[] {
    const ids: ShardId[] = [];
    for (const [layer, k] of kept) {
      if (!k) continue;
      for (const index of shardsForKept(k, this.store.manifest.neuronsPerShard, this.store.slots[layer])) ids.push({ layer, index });
    }
    return ids;
  }

  /** The fixed masks of static/random settings (deterministic per model and settings). */
  private fixed(settings: DartSettings): (Int32Array | null)[] {
    const key = JSON.stringify(settings);
    let m = this.fixedMasks.get(key);
    if (!m) {
      const p = new MaskingPruner(this.tf, this.tf.newState(), settings); // default builder: tf's dense weights
      m = p.kept; // null: a layer that stays dense, served by tf's weights
      this.fixedMasks.set(key, m);
    }
    return m;
  }

  /** What a turn with these settings can need resident. */
  needFor(settings: DartSettings): { need: TurnWeightStats["need"]; ids: ShardId[] } {
    if (settings.method === "dense") return { need: "none", ids: [] };
    if (FIXED.has(settings.method)) {
      try {
        return { need: "kept", ids: this.keptShards(this.fixed(settings).entries()) };
      } catch {
        return { need: "all", ids: this.allShards() }; // invalid settings: runTurn reports them
      }
    }
    return { need: "all", ids: this.allShards() };
  }

  /** Before a turn: fetch (and verify) what it can need; may exceed the budget until finish(). */
  async prepare(settings: DartSettings): Promise<void> {
    this.before = this.store.stats();
    this.built = new Map();
    this.layersBuilt = 0;
    const { need, ids } = this.needFor(settings);
    this.need = need;
    this.shardsNeeded = ids.length;
    const t0 = performance.now();
    if (ids.length) await this.store.ensure(ids, { overBudget: true });
    this.prepareMs = performance.now() - t0;
  }

  /** After a turn: back under the budget, keeping the final masks' shards; the turn's counters. */
  finish(): TurnWeightStats {
    this.store.trim(this.keptShards(this.built.entries()));
    const a = this.store.stats();
    const b = this.before ?? a;
    return {
      need: this.need,
      shardsNeeded: this.shardsNeeded,
      bytesFetched: a.bytesFetched - b.bytesFetched,
      shardsFetched: a.shardsFetched - b.shardsFetched,
      cacheHits: a.cacheHits - b.cacheHits,
      evictions: a.evictions - b.evictions,
      residentBytes: a.residentBytes,
      layersBuilt: this.layersBuilt,
      prepareMs: this.prepareMs,
    };
  }
}
