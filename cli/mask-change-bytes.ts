// Bytes and time a sparse node spends on a mask change, per shard folder (run it on an f32 and a
// q8_0 set of one model to compare): opens the set as a sparse node does (base only, resident
// neurons decoded into the engine's FFN bundles), makes a first seeded random mask at the
// sparsity resident, then a second one, and prints one JSON line per folder with the bytes per
// shard and what each mask fetched through the real WeightStore (sha256-verified).
//   node cli/mask-change-bytes.ts [--sparsity 0.5] <shard dir>...
import { parseArgs } from "node:util";
import { openModelFromStore } from "../shared/weights/open-model.ts";
import { ResidentFfn } from "../shared/weights/resident-ffn.ts";
import type { ShardId } from "../shared/weights/store.ts";
import { FolderSource } from "../workers/weights/folder-source.ts";
import { randomKept } from "./random-kept.ts";

const { values: v, positionals: dirs } = parseArgs({ options: { sparsity: { type: "string" } }, allowPositionals: true });
const sparsity = Number(v.sparsity ?? 0.5);
if (!(sparsity >= 0 && sparsity < 1) || dirs.length === 0) {
  process.stderr.write("usage: node cli/mask-change-bytes.ts [--sparsity 0.5] <shard dir>...\n");
  process.exit(2);
}

for (const dir of dirs) {
  const t0 = performance.now();
  const { store, transformer } = await openModelFromStore(new FolderSource(dir), { denseFfn: false, maxContext: 64 });
  const resident = new ResidentFfn(store, transformer);
  const { nLayers, hiddenDim } = store.manifest.config;
  const keep = Math.round(hiddenDim * (1 - sparsity));
  const mask = (seed: number): ShardId[] =>
    Array.from({ length: nLayers }, (_, layer) => [...randomKept(hiddenDim, keep, seed * 1000 + layer + 1)].map((j) => ({ layer, index: store.shardOf(layer, j) })))
      .flat();
  const step = async (seed: number) => {
    const before = store.stats();
    const t = performance.now();
    await store.ensure(mask(seed));
    const after = store.stats();
    return { shards: after.shardsFetched - before.shardsFetched, bytes: after.bytesFetched - before.bytesFetched, ms: Math.round(performance.now() - t) };
  };
  const loadMs = Math.round(performance.now() - t0);
  const firstMask = await step(1);
  const maskChange = await step(2);
  const m = store.manifest;
  process.stdout.write(JSON.stringify({
    dir, dtype: m.dtype, format: transformer.ffn[0]!.format, neuronsPerShard: m.neuronsPerShard, shardBytes: m.layers[0]![0]!.bytes,
    ffnBytes: m.ffnBytes, baseBytes: m.base.bytes, baseLoadMs: loadMs, sparsity, firstMask, maskChange, residentFfnBytes: resident.residentBytes,
  }) + "\n");
}
