// The node's weight-source counters for GET /metrics and per-mask bytes in pruner events.
// Today a node loads the whole model file (nothing to fetch); a node that installs masks
// through the weight store (shared/weights: WeightStore + FfnDeltaLoader) reads its stats.
import type { WeightCounters } from "../../shared/metrics/node-metrics.ts";
import type { WeightStoreStats } from "../../shared/weights/store.ts";

export const fileCounters = (): WeightCounters => ({ source: "file", bytesFetched: 0, shardHits: 0, shardMisses: 0 });

/** Live counters of a weight store: a miss is a shard fetched from the source. */
export function storeCounters(store: { stats(): WeightStoreStats }): WeightCounters {
  return {
    source: "store",
    get bytesFetched() {
      return store.stats().bytesFetched;
    },
    get shardHits() {
      return store.stats().cacheHits;
    },
    get shardMisses() {
      return store.stats().shardsFetched;
    },
  };
}
