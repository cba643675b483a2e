// A node's weight metrics read from a real weight store (stories260K cut into shards):
// bytes fetched, shard hits and misses move as masks are installed through FfnDeltaLoader.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeMetrics } from "../../shared/metrics/node-metrics.ts";
import { FfnDeltaLoader } from "../../shared/weights/ffn-loader.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { storeCounters } from "../../workers/node/weight-counters.ts";
import { parsePrometheus } from "../helpers/prometheus.ts";
import { randomKept, tempShardSet, type TempShardSet } from "../weights/shard-set.ts";

let set: TempShardSet;
beforeAll(async () => {
  set = await tempShardSet({ neuronsPerShard: 16 });
});
afterAll(() => set?.remove());

describe("weight store counters in node metrics", () => {
  it("report what mask changes fetched", async () => {
    const store = await WeightStore.open(set.folder);
    const loader = new FfnDeltaLoader(store);
    const weights = storeCounters(store);
    const scrape = () => parsePrometheus(new NodeMetrics("n").render({ weights, kvEntries: 0, kvBytes: 0, kvBudgetBytes: 0, role: "full", ffnBytes: 0, residentFfnBytes: 0, rssBytes: 0 }));
    const s0 = scrape();
    expect(s0.get('dart_node_info{node="n",role="full",weight_source="store"}')).toBe(1);
    const a = Array.from({ length: 5 }, (_, l) => randomKept(172, 8, 1 + l));
    const first = await loader.load(a);
    const s1 = scrape();
    expect(first.report.bytesFetched).toBeGreaterThan(0);
    expect(s1.get("dart_node_weight_bytes_fetched_total") - s0.get("dart_node_weight_bytes_fetched_total")).toBe(first.report.bytesFetched);
    expect(s1.get('dart_node_shard_cache_lookups_total{result="miss"}') - s0.get('dart_node_shard_cache_lookups_total{result="miss"}')).toBe(first.report.shardsFetched);
    // A re-mask: shards the old mask already brought are hits, only the others are fetched.
    const b = Array.from({ length: 5 }, (_, l) => randomKept(172, 8, 50 + l));
    const second = await loader.load(b);
    const s2 = scrape();
    const hits = (s: typeof s0) => s.get('dart_node_shard_cache_lookups_total{result="hit"}');
    expect(second.report.shardsFetched).toBeLessThan(second.report.shardsNeeded);
    expect(s2.get("dart_node_weight_bytes_fetched_total") - s1.get("dart_node_weight_bytes_fetched_total")).toBe(second.report.bytesFetched);
    expect(hits(s2) - hits(s1)).toBe(second.report.shardsNeeded - second.report.shardsFetched);
  });
});
