import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectSource } from "../../shared/weights/source.ts";
import { ShardIntegrityError, WeightBudgetError, WeightStoreError } from "../../shared/weights/source.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { FolderSource } from "../../workers/weights/folder-source.ts";
import { tempShardSet, type TempShardSet } from "./shard-set.ts";

/**
 * FAKE for a fault a folder cannot produce by itself: the first read of `key`
 * returns flipped bytes (a torn or corrupted transfer), later reads the real file.
 */
class CorruptFirstReadSource implements ObjectSource {
  readonly description = "corrupt-first-read fake over a real folder";
  private readonly inner: ObjectSource;
  private readonly key: string;
  private done = false;
  reads = 0;
  constructor(inner: ObjectSource, key: string) {
    this.inner = inner;
    this.key = key;
  }
  async get(key: string): Promise<Uint8Array | null> {
    const bytes = await this.inner.get(key);
    if (key !== this.key) return bytes;
    this.reads++;
    if (this.done || !bytes) return bytes;
    this.done = true;
    const bad = bytes.slice();
    bad[100] ^= 0xff;
    return bad;
  }
}

describe("weight store over a folder", () => {
  let set: TempShardSet;
  const shardBytes = 3 * 16 * 64 * 4; // a full shard of 16 f32 neurons
  beforeAll(async () => {
    set = await tempShardSet({ neuronsPerShard: 16 });
  });
  afterAll(() => set.remove());

  it("fetches only missing shards and counts bytes, shards and cache hits", async () => {
    const store = await WeightStore.open(set.folder);
    await store.ensure([{ layer: 0, index: 0 }, { layer: 0, index: 1 }, { layer: 2, index: 10 }]);
    let st = store.stats();
    expect(st.shardsFetched).toBe(3);
    expect(st.bytesFetched).toBe(2 * shardBytes + 3 * 12 * 64 * 4); // shard 10 holds neurons 160..171
    expect(st.cacheHits).toBe(0);
    await store.ensure([{ layer: 0, index: 1 }, { layer: 0, index: 2 }]);
    st = store.stats();
    expect(st.shardsFetched).toBe(4);
    expect(st.cacheHits).toBe(1);
    expect(st.residentShards).toBe(4);
  });

  it("evicts the least recently used shards outside the request to stay under the budget", async () => {
    const store = await WeightStore.open(set.folder, { budgetBytes: 3 * shardBytes });
    const id = (index: number) => ({ layer: 1, index });
    await store.ensure([id(0), id(1), id(2)]);
    await store.ensure([id(0)]); // 0 becomes most recent: 1 is now the oldest
    await store.ensure([id(3)]);
    expect(store.isResident(id(1))).toBe(false);
    expect(store.isResident(id(0)) && store.isResident(id(2)) && store.isResident(id(3))).toBe(true);
    expect(store.stats().residentBytes).toBeLessThanOrEqual(3 * shardBytes);
    expect(store.stats().evictions).toBe(1);
    await expect(store.ensure([id(4), id(5), id(6), id(7)])).rejects.toThrow(WeightBudgetError);
  });

  it("shares fetches between concurrent requests (two sessions on one node)", async () => {
    const store = await WeightStore.open(set.folder);
    const id = (index: number) => ({ layer: 3, index });
    const [a, b] = await Promise.all([store.ensure([id(0), id(1), id(2)]), store.ensure([id(1), id(2), id(3)])]);
    expect(Buffer.from(a[1]!)).toEqual(Buffer.from(b[0]!));
    const st = store.stats();
    expect(st.shardsFetched).toBe(4);
    expect(st.bytesFetched).toBe(4 * shardBytes);
    expect(st.residentBytes).toBe(4 * shardBytes);
    expect(st.residentShards).toBe(4);
  });

  it("refetches a shard that arrives corrupted once, and uses the good copy", async () => {
    const key = set.manifest.layers[4]![3]!.key;
    const source = new CorruptFirstReadSource(set.folder, key);
    const store = await WeightStore.open(source);
    const [bytes] = await store.ensure([{ layer: 4, index: 3 }]);
    expect(source.reads).toBe(2);
    expect(Buffer.from(bytes!)).toEqual(readFileSync(join(set.dir, key)));
    expect(store.stats()).toMatchObject({ refetches: 1, shardsFetched: 1, bytesFetched: 2 * shardBytes });
  });

  it("refuses a shard whose stored bytes are corrupt, and never makes it resident", async () => {
    const copy = await tempShardSet({ neuronsPerShard: 16 });
    try {
      const key = copy.manifest.layers[2]![5]!.key;
      const path = join(copy.dir, key);
      const bytes = readFileSync(path);
      bytes[7] ^= 0x01; // one flipped bit in the real file
      writeFileSync(path, bytes);
      const store = await WeightStore.open(new FolderSource(copy.dir));
      const err = await store.ensure([{ layer: 2, index: 4 }, { layer: 2, index: 5 }]).catch((e) => e);
      expect(err).toBeInstanceOf(ShardIntegrityError);
      expect(err.message).toContain(key);
      expect(err.message).toMatch(/sha256/);
      expect(store.isResident({ layer: 2, index: 5 })).toBe(false);
      expect(store.stats().refetches).toBe(1);
      // A truncated object is caught by its size before hashing.
      writeFileSync(path, bytes.subarray(0, 100));
      await expect(store.ensure([{ layer: 2, index: 5 }])).rejects.toThrow(/100 bytes, manifest says/);
      // A corrupt base blob stops open() itself.
      writeFileSync(join(copy.dir, "base.bin"), Buffer.alloc(copy.manifest.base.bytes));
      await expect(WeightStore.open(new FolderSource(copy.dir))).rejects.toThrow(ShardIntegrityError);
    } finally {
      copy.remove();
    }
  });

  it("says clearly when the manifest or a shard is missing", async () => {
    await expect(WeightStore.open(new FolderSource(join(set.dir, "ffn")))).rejects.toThrow(/no manifest.json in folder/);
    const store = await WeightStore.open(set.folder);
    expect(() => store.shardRef({ layer: 0, index: 11 })).toThrow(RangeError);
    await expect(store.ensure([{ layer: 5, index: 0 }])).rejects.toThrow(/no shard 0 in layer 5/);
    // The missing manifest is the store's own error (callers tell it from bugs by class), with the folder named.
    const missing = await WeightStore.open(new FolderSource(join(set.dir, "ffn"))).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(WeightStoreError);
    expect((missing as Error).message).toContain(join(set.dir, "ffn"));
  });
});
