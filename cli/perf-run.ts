// The side-by-side run behind docs/performance.md (npm run bench:full): synthesizes
// the big shapes into .cache/ if missing, runs `dart bench` on each model in its own
// process and the kernel microbenchmark, writes .cache/perf/results.json and prints
// the markdown tables.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, freemem, totalmem } from "node:os";
import { resolve } from "node:path";
import { renderTables } from "./perf-table.ts";

const REPO = resolve(import.meta.dirname, "..");
const CACHE = resolve(REPO, ".cache");
const DATA = resolve(process.env.DART_MODEL_DIR ?? resolve(REPO, "../shared/data"));
const methods = process.env.DART_BENCH_METHODS ?? "dense,mask,dart";

function dart(args: string[]): Record<string, unknown>[] {
  process.stderr.write(`$ dart ${args.join(" ")}\n`);
  const r = spawnSync(process.execPath, ["--max-old-space-size=8192", resolve(REPO, "cli/dart.ts"), ...args], {
    cwd: REPO, encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "inherit"],
  });
  if (r.status !== 0) throw new Error(`dart ${args[0]} failed with ${r.status}`);
  return r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

mkdirSync(resolve(CACHE, "perf"), { recursive: true });
const models = [
  { label: "stories260K", path: resolve(DATA, "stories260K.bin"), args: ["--backend", "ts,wasm,wasm-mt", "--tokens", "128", "--prompt-tokens", "16", "--repeats", "7"] },
  {
    label: "stories110M shape", shape: "stories110M", path: resolve(CACHE, "stories110M.bin"),
    args: ["--backend", "wasm,wasm-mt", "--tokens", "32", "--prompt-tokens", "8", "--repeats", "7", "--synthetic-priors"],
  },
  {
    label: "Llama-3.1-8B shape, 8 layers", shape: "llama3-8b-8l", path: resolve(CACHE, "llama3-8b-8l.bin"),
    args: ["--backend", "wasm,wasm-mt", "--tokens", "6", "--prompt-tokens", "3", "--repeats", "7", "--synthetic-priors"],
  },
];
const started = new Date().toISOString();
const rows: Record<string, unknown>[] = [];
for (const m of models) {
  // The 8-layer 8B shape holds 9.1 GB of weights plus up to 2.8 GB of compacted FFNs: do not push a shared machine into OOM.
  if (m.shape === "llama3-8b-8l" && freemem() < 14e9) {
    process.stderr.write(`skipping ${m.label}: ${(freemem() / 1e9).toFixed(1)} GB free, 14 GB needed\n`);
    continue;
  }
  if (m.shape && !existsSync(m.path)) dart(["synth", "--shape", m.shape, "--out", m.path, "--seed", "1", "--json"]);
  for (const r of dart(["bench", "--model", m.path, "--method", methods, "--sparsity", "0.5,0.7", ...m.args, "--json"])) rows.push({ label: m.label, ...r });
}
const kernels = dart(["bench", "--kernels", "--json"]);
const results = {
  started, finished: new Date().toISOString(), node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model,
  memoryGB: totalmem() / 1e9, rows, kernels,
};
writeFileSync(resolve(CACHE, "perf/results.json"), JSON.stringify(results, null, 1) + "\n");
process.stdout.write(renderTables(results) + "\n");
