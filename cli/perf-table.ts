// Markdown tables for docs/performance.md from perf-run.ts's results.json
// (`node cli/perf-table.ts .cache/perf/results.json` re-renders them).
import { readFileSync } from "node:fs";

type Row = Record<string, any>;
const f = (x: number, d = 2) => x.toFixed(d);

export function renderTables(r: { rows: Row[]; kernels: Row[]; started: string; node: string; cpus: number; cpuModel?: string }): string {
  const out: string[] = [];
  out.push(`Run ${r.started}, Node ${r.node}, ${r.cpus} CPUs (${r.cpuModel ?? "?"}); wasm-mt runs two threads, every other backend one.`, "");
  out.push(
    "| model | backend | method | sparsity | decode tok/s | forward-only tok/s | mask switch s/run | prefill tok/s | MB/token | eff. sparsity | GB/s | speedup vs dense (forward-only) | ideal speedup | % of ideal | floor tok/s | % of floor |",
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const x of r.rows) {
    const dense = r.rows.find((y) => y.label === x.label && y.backend === x.backend && y.method === "dense");
    const speedup = dense ? x.tokensPerSecond / dense.tokensPerSecond : NaN;
    const steady = dense ? x.forwardTokensPerSecond / dense.forwardTokensPerSecond : NaN;
    out.push(
      `| ${x.label} | ${x.backend} | ${x.method} | ${f(x.sparsity, 1)} | ${f(x.tokensPerSecond)} | ${f(x.forwardTokensPerSecond)} | ${f(x.maskSeconds, 3)} | ` +
        `${f(x.prefillTokensPerSecond)} | ${f(x.weightBytesPerToken / 1e6, 1)} | ${f(x.effectiveSparsity, 3)} | ${f(x.effectiveGBps)} | ` +
        `${f(speedup)} (${f(steady)}) | ${f(x.idealSpeedup)} | ${f((100 * steady) / x.idealSpeedup, 0)}% | ${f(x.floorTokensPerSecond)} | ${f(100 * x.fractionOfFloor, 0)}% |`,
    );
  }
  const labels = [...new Set(r.rows.map((x) => x.label as string))];
  const copy = labels.map((l) => {
    const x = r.rows.find((y) => y.label === l)!;
    return `${l}: median ${f(x.memcpyGBps, 1)} GB/s, best ${f(x.memcpyGBpsMax ?? x.memcpyGBps, 1)} GB/s`;
  });
  out.push("", `Memory-copy bandwidth (128 MiB copies, sampled between the rounds of each model's runs): ${copy.join("; ")}.`, "");
  out.push("| matvec shape | implementation | GFLOP/s | weight GB/s |", "|---|---|---|---|");
  for (const k of r.kernels) out.push(`| ${k.shape} | ${k.impl} | ${f(k.gflops)} | ${f(k.weightGBps)} |`);
  return out.join("\n");
}

if (import.meta.filename === process.argv[1]) {
  process.stdout.write(renderTables(JSON.parse(readFileSync(process.argv[2] ?? ".cache/perf/results.json", "utf8"))) + "\n");
}
