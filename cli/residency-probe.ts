// One node's memory, alone in its own process (so RSS is that node's): loads a shard set the
// way the inference node does (engine-thread.ts) as a full or a sparse node, makes the masks
// of `sessions` sessions resident (sparse: each session's masks plus the prior's, as
// SparseFfn.prepare does before a turn), and prints one JSON line: FFN bytes, resident FFN
// bytes, allocated FFN bytes and RSS after a garbage collection. Run by residency-bench.ts
// with --expose-gc. Masks are seeded random kept sets at the sparsity (independent per
// session: an upper bound on their union; DART's masks share much of the prior's).
import { parseArgs } from "node:util";
import { openModelFromStore } from "../shared/weights/open-model.ts";
import { shardsForKept } from "../shared/weights/ffn-loader.ts";
import type { ShardId } from "../shared/weights/store.ts";
import { FolderSource } from "../workers/weights/folder-source.ts";
import { NodeWeights } from "../workers/node/node-weights.ts";
import { SparseFfn } from "../workers/node/sparse-ffn.ts";
import { randomKept } from "./random-kept.ts";

const { values: v } = parseArgs({
  options: { shards: { type: "string" }, role: { type: "string" }, sparsity: { type: "string" }, sessions: { type: "string" }, "keep-shard-bytes": { type: "boolean" } },
});

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const role = v.role === "sparse" ? "sparse" : "full";
const sparsity = Number(v.sparsity ?? 0.5);
const sessions = Number(v.sessions ?? 1);
const source = new FolderSource(v.shards!);
const m = await openModelFromStore(source, { denseFfn: role === "full" });
const c = m.transformer.config;
let residentFfnBytes: number;
let allocatedFfnBytes: number;
let bytesFetched = 0;
if (role === "full") {
  // --keep-shard-bytes: what a full node held before (the store's shard bytes besides the engine's FFN).
  const held = v["keep-shard-bytes"] ? null : new NodeWeights(m.store, m.transformer);
  residentFfnBytes = m.transformer.ffn.reduce((n, b) => n + b.resident, 0) * 3 * c.dim * 4 + (held ? 0 : m.store.stats().residentBytes);
  allocatedFfnBytes = residentFfnBytes;
} else {
  const sparse = new SparseFfn(m.store, m.transformer);
  const k = Math.round(c.hiddenDim * (1 - sparsity));
  const masks = (seed: number) => Array.from({ length: c.nLayers }, (_, l) => randomKept(c.hiddenDim, k, seed * 1000 + l + 1));
  const ids = (kept: Int32Array[]): ShardId[] =>
    kept.flatMap((kk, layer) => shardsForKept(kk, m.store.manifest.neuronsPerShard, m.store.slots[layer]).map((index) => ({ layer, index })));
  const prior = ids(masks(0));
  for (let s = 1; s <= sessions; s++) {
    const turn = [...ids(masks(s)), ...prior];
    await m.store.ensure(turn, { overBudget: true });
    m.store.trim(turn);
  }
  bytesFetched = m.store.stats().bytesFetched;
  residentFfnBytes = sparse.residentBytes;
  allocatedFfnBytes = sparse.ffn.allocatedBytes;
}
// Let the fetch's pending jobs end first: until then they still reach the shard buffers just
// decoded (bytesFetched of them), and a GC here would count them in RSS as if held.
await new Promise((r) => setTimeout(r, 100));
gc();
gc();
process.stdout.write(JSON.stringify({
  role: v["keep-shard-bytes"] ? "full (shard bytes kept, before)" : role, sparsity: role === "sparse" ? sparsity : null, sessions: role === "sparse" ? sessions : null,
  ffnBytes: c.nLayers * c.hiddenDim * 3 * c.dim * 4, residentFfnBytes, allocatedFfnBytes, bytesFetched, rssBytes: process.memoryUsage().rss,
}) + "\n");
