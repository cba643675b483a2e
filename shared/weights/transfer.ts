// Bytes a node moves per context shift, for a sequence of masks and a shard size:
// replays the masks through a real WeightStore (in memory) and also counts the
// strict "hold only the current mask" delta by set difference.
import type { LoadedModel } from "../model/weights.ts";
import { buildShardSet } from "./build.ts";
import type { ShardDtype } from "./dtype-codec.ts";
import { FfnDeltaLoader, shardsForKept } from "./ffn-loader.ts";
import { neuronSlots, type Manifest } from "./manifest.ts";
import { MemorySource } from "./source.ts";
import { WeightStore } from "./store.ts";

export interface TransferStats {
  dtype: ShardDtype;
  neuronsPerShard: number;
  /** Bytes of one full shard (N neurons) in this dtype. */
  shardBytes: number;
  ffnBytes: number;
  /** Mask changes after the first mask. */
  shifts: number;
  /** Median over shifts: bytes of shards the new mask needs that the previous mask's shards lack. */
  deltaBytesPerShift: number;
  /** Median over shifts: bytes of all shards the new mask needs (reloading it whole). */
  newMaskBytes: number;
  /** Median over shifts: fraction of the new mask's kept neurons the previous mask lacked (shard-size free). */
  newNeuronFraction: number;
  /** Median over conversations: bytes to load the first mask. */
  firstMaskBytes: number;
  /** The same masks through an LRU store with `budgetBytes`: median bytes fetched per shift, and totals. */
  lru: { budgetBytes: number; fetchedBytesPerShift: number; bytesFetched: number; cacheHits: number; shardsFetched: number };
}

export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function maskShardBytes(manifest: Manifest, slots: Int32Array[], mask: Int32Array[]): { keys: Set<string>; bytes: number } {
  const keys = new Set<string>();
  let bytes = 0;
  mask.forEach((kept, l) => {
    for (const s of shardsForKept(kept, manifest.neuronsPerShard, slots[l])) {
      const ref = manifest.layers[l]![s]!;
      keys.add(ref.key);
      bytes += ref.bytes;
    }
  });
  return { keys, bytes };
}

/**
 * `sequences`: one mask sequence per conversation (each starts on a cold node).
 * `budgetFraction` sizes the LRU store as a fraction of the FFN (never below the
 * largest mask, which must fit). `dtype`: the shard set's (q8_0: the bytes a Q8_0 node moves).
 */
export async function measureTransfer(
  model: Pick<LoadedModel, "config" | "weights" | "source">,
  sequences: Int32Array[][][],
  neuronsPerShard: number,
  budgetFraction = 0.75,
  order?: Int32Array[],
  dtype: ShardDtype = "f32",
): Promise<TransferStats> {
  const mem = new MemorySource();
  const manifest = await buildShardSet(model as LoadedModel, { neuronsPerShard, order, dtype }, mem.put);
  const slots = neuronSlots(manifest);
  const byKey = new Map(manifest.layers.flat().map((r) => [r.key, r.bytes]));
  const deltas: number[] = [];
  const whole: number[] = [];
  const newNeurons: number[] = [];
  const fetched: number[] = [];
  const firsts: number[] = [];
  const maxMask = Math.max(0, ...sequences.flat().map((m) => maskShardBytes(manifest, slots, m).bytes));
  const budgetBytes = Math.max(Math.ceil(budgetFraction * manifest.ffnBytes), maxMask);
  const lru = { budgetBytes, fetchedBytesPerShift: 0, bytesFetched: 0, cacheHits: 0, shardsFetched: 0 };

  for (const masks of sequences) {
    const perMask = masks.map((m) => maskShardBytes(manifest, slots, m));
    if (perMask[0]) firsts.push(perMask[0].bytes);
    for (let i = 1; i < masks.length; i++) {
      let d = 0;
      for (const k of perMask[i]!.keys) if (!perMask[i - 1]!.keys.has(k)) d += byKey.get(k)!;
      deltas.push(d);
      whole.push(perMask[i]!.bytes);
      let fresh = 0, total = 0;
      masks[i]!.forEach((kept, l) => {
        const prev = new Set(masks[i - 1]![l]);
        for (const j of kept) if (!prev.has(j)) fresh++;
        total += kept.length;
      });
      newNeurons.push(total ? fresh / total : 0);
    }
    const store = await WeightStore.open(mem, { budgetBytes });
    const loader = new FfnDeltaLoader(store);
    for (let i = 0; i < masks.length; i++) {
      const { report } = await loader.load(masks[i]!);
      if (i > 0) fetched.push(report.bytesFetched);
    }
    const st = store.stats();
    lru.bytesFetched += st.bytesFetched;
    lru.cacheHits += st.cacheHits;
    lru.shardsFetched += st.shardsFetched;
  }
  lru.fetchedBytesPerShift = median(fetched);
  return {
    dtype,
    neuronsPerShard,
    shardBytes: manifest.layers[0]![0]!.bytes,
    ffnBytes: manifest.ffnBytes,
    shifts: deltas.length,
    deltaBytesPerShift: median(deltas),
    newMaskBytes: median(whole),
    newNeuronFraction: median(newNeurons),
    firstMaskBytes: median(firsts),
    lru,
  };
}

/** Random kept sets of the same sizes as `like` (a sanity reference: masks with no memory). */
export function randomMasksLike(like: Int32Array[][], hiddenDim: number, seed = 1): Int32Array[][] {
  let s = seed >>> 0 || 1;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return like.map((mask) =>
    mask.map((kept) => {
      const idx = Array.from({ length: hiddenDim }, (_, i) => i);
      for (let i = hiddenDim - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [idx[i], idx[j]] = [idx[j]!, idx[i]!];
      }
      return Int32Array.from(idx.slice(0, kept.length).sort((a, b) => a - b));
    }),
  );
}
