// `dart serve-bench --residency`: a sparse node's resident FFN bytes and RSS against a full
// node's, each node alone in a fresh process (residency-probe.ts), on one shard set: a full
// node, the same before the fix (the store's shard bytes kept besides the engine's FFN), and
// sparse nodes at each sparsity with each number of sessions.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { shardModelToFolder } from "./weights-seed.ts";

export interface ResidencyRow {
  role: string;
  sparsity: number | null;
  sessions: number | null;
  ffnBytes: number;
  residentFfnBytes: number;
  allocatedFfnBytes: number;
  bytesFetched: number;
  rssBytes: number;
}

export async function residencyBench(modelPath: string, opts: { sparsity: number[]; sessions: number[]; tokenizerPath?: string; onRow?: (r: ResidencyRow) => void }): Promise<ResidencyRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "dart-residency-"));
  try {
    // One neuron per shard, as the stack seeds it; DART's priors are not needed to hold masks.
    await shardModelToFolder(modelPath, dir, { neuronsPerShard: 1, noPriors: true, tokenizerPath: opts.tokenizerPath });
    const probe = (args: string[]): ResidencyRow => {
      // Shard buffers are small (3 x dim floats each): glibc keeps freed ones in its heap, which RSS then
      // counts; above 8 KiB they get their own mappings, returned to the system when freed.
      const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? "8192" };
      const out = execFileSync(process.execPath, ["--expose-gc", join(import.meta.dirname, "residency-probe.ts"), "--shards", dir, ...args], { encoding: "utf8", maxBuffer: 1 << 20, env });
      const row = JSON.parse(out.trim().split("\n").at(-1)!) as ResidencyRow;
      opts.onRow?.(row);
      return row;
    };
    const rows = [probe(["--role", "full"]), probe(["--role", "full", "--keep-shard-bytes"])];
    for (const s of opts.sparsity) for (const n of opts.sessions) rows.push(probe(["--role", "sparse", "--sparsity", String(s), "--sessions", String(n)]));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
