// Going over the resident budget for one turn and trimming back after it (what a node
// serving DART does: a traced turn needs every shard, the budget holds between turns).
import { afterAll, beforeAll, expect, it } from "vitest";
import { WeightBudgetError } from "../../shared/weights/source.ts";
import { WeightStore, type ShardId } from "../../shared/weights/store.ts";
import { tempShardSet, type TempShardSet } from "./shard-set.ts";

let set: TempShardSet;
beforeAll(async () => {
  set = await tempShardSet({ neuronsPerShard: 4 }); // 43 shards of 4 x 768 B per layer
});
afterAll(() => set?.remove());

const layer = (l: number, n = 43): ShardId[] => Array.from({ length: n }, (_, index) => ({ layer: l, index }));

it("ensure(overBudget) holds a request larger than the budget; trim evicts back to it, keeping what it is told to", async () => {
  const shard = 4 * 3 * 64 * 4;
  const store = await WeightStore.open(set.folder, { budgetBytes: 50 * shard });
  const all = [...layer(0), ...layer(1)]; // 86 shards
  await expect(store.ensure(all)).rejects.toThrow(WeightBudgetError);
  await store.ensure(all, { overBudget: true });
  expect(store.stats()).toMatchObject({ residentShards: 86, residentBytes: 86 * shard, shardsFetched: 86 });
  const keep = layer(0, 10);
  store.trim(keep);
  const s = store.stats();
  expect(s.residentShards).toBe(50);
  expect(s.evictions).toBe(36);
  for (const id of keep) expect(store.isResident(id)).toBe(true); // kept although least recently used
  expect(store.isResident({ layer: 0, index: 10 })).toBe(false); // the oldest others went first
  expect(store.isResident({ layer: 1, index: 42 })).toBe(true);
  expect(store.residentShard({ layer: 0, index: 0 })!.byteLength).toBe(shard);
  expect(store.residentShard({ layer: 0, index: 10 })).toBeNull();
  expect(store.stats().cacheHits).toBe(0); // neither trim nor residentShard counts as a hit
  // The next over-budget request refetches exactly what trim evicted.
  await store.ensure(all, { overBudget: true });
  expect(store.stats().shardsFetched).toBe(86 + 36);
  expect(store.stats().cacheHits).toBe(50);
});
