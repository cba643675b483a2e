// A full node serving from the weight store: which FFN shards a turn can need, making them
// resident before the (synchronous) generation starts, and shrinking back to the byte
// budget after the turn. The FFN is held once, in the Transformer's neuron-major bundles
// (resident-ffn.ts: the store keeps no shard bytes), and a mask is an index list over them.
//
// Every turn on a full node runs its prompt dense (the evaluation protocol, static and random
// included; dense every token), and a tracing method's masks and mid-turn re-masks can keep
// any neuron, so a turn needs every shard resident. With a budget below the whole FFN the set
// is exceeded during the turn and trimmed afterwards, keeping the final masks' shards, and the
// next turn refetches what was evicted (the FFN is never held twice to avoid that).
import type { Transformer } from "../../shared/engine/transformer.ts";
import type { PrunerOptions } from "../../shared/dart/masking-pruner.ts";
import type { DartSettings } from "../../shared/dart/settings.ts";
import { shardsForKept } from "../../shared/weights/ffn-loader.ts";
import { ResidentFfn } from "../../shared/weights/resident-ffn.ts";
import { storeDelta, type ShardId, type WeightStore, type WeightStoreStats } from "../../shared/weights/store.ts";

/** What one turn cost the weight store (counter deltas over prepare + turn + trim). */
export interface TurnWeightStats {
  /** "all": every FFN shard (a full node); "kept": the masks' shards (a sparse node). */
  need: "all" | "kept";
  shardsNeeded: number;
  bytesFetched: number;
  shardsFetched: number;
  cacheHits: number;
  evictions: number;
  /** FFN bytes held in memory after the turn's trim. */
  residentBytes: number;
  /** Masks built over a layer's resident neurons during the turn (index lists, no copy). */
  layersBuilt: number;
  /** Time spent making the turn's shards resident before generating. */
  prepareMs: number;
}

export class NodeWeights {
  readonly store: WeightStore;
  /** The FFN neurons held (every one, unless a budget below the FFN dropped some). */
  readonly ffn: ResidentFfn;
  readonly prunerOptions: PrunerOptions;
  /** The last kept set built per layer during the current turn (the final masks at its end). */
  private built = new Map<number, Int32Array>();
  private layersBuilt = 0;
  private before: WeightStoreStats | null = null;
  private need: TurnWeightStats["need"] = "all";
  private shardsNeeded = 0;
  private prepareMs = 0;

  constructor(store: WeightStore, tf: Transformer) {
    this.store = store;
    this.ffn = new ResidentFfn(store, tf);
    this.prunerOptions = {
      ffnBuilder: (layer, kept) => {
        this.built.set(layer, kept);
        this.layersBuilt++;
        return this.ffn.build(layer, kept);
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

  /** What a turn with these settings needs resident: every shard (see the top of this file). */
  needFor(_settings: DartSettings): { need: TurnWeightStats["need"]; ids: ShardId[] } {
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
    return {
      need: this.need,
      shardsNeeded: this.shardsNeeded,
      ...storeDelta(a, this.before ?? a),
      residentBytes: this.ffn.residentBytes,
      layersBuilt: this.layersBuilt,
      prepareMs: this.prepareMs,
    };
  }
}
