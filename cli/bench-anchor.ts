// `npm run bench:anchor`: this engine's dense decode against llama2.c's C decoders
// (run.c fp32, runq.c int8 Q8_0) on the same synthetic stories110M-shaped file, side
// by side: the engines alternate round by round so machine load slows them alike, and
// each cell is a median. llama2.c is built from ../shared/reference/llama2.c into the
// git-ignored .cache/ (never committed); without a C compiler it says so and runs ours only.
// Writes .cache/perf/anchor.json and .cache/perf/anchor.md (one table per thread count).
// Ours runs fp32 and int8 (--weights q8_0) dense, and int8 DART at 0.7 (synthetic priors:
// the per-token work of DART, no meaning); --threads 1 measures the one-thread rows only.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { median } from "./membw.ts";
import { SHAPES, writeSynthModel } from "./synth-model.ts";

const ROOT = resolve(import.meta.dirname, "..");
const REF = resolve(ROOT, "../shared/reference/llama2.c");
const CACHE = resolve(ROOT, ".cache");
const { values: v } = parseArgs({ options: { rounds: { type: "string" }, tokens: { type: "string" }, threads: { type: "string" } } });
const threadCounts = (v.threads ?? "1,2").split(",").map(Number);
const rounds = Number(v.rounds ?? 3);
const tokens = Number(v.tokens ?? 64);
const dataDir = resolve(process.env.DART_MODEL_DIR ?? resolve(ROOT, "../shared/data"));

interface Engine {
  name: string;
  threads: number;
  run(): number; // decode tokens per second
}

function ours(threads: number, weights: "f32" | "q8_0" = "f32", method = "dense"): Engine {
  const dart = method === "dart" ? ["--sparsity", "0.7", "--synthetic-priors"] : [];
  return {
    name: `dart-edge ${threads === 1 ? "wasm" : "wasm-mt"} ${weights === "f32" ? "fp32" : "int8 Q8_0"}${method === "dart" ? " dart 0.7" : ""}`,
    threads,
    run() {
      const r = spawnSync(process.execPath, [resolve(ROOT, "cli/dart.ts"), "bench", "--model", model, "--method", method, ...dart,
        "--weights", weights, "--threads", String(threads), "--tokens", String(tokens), "--prompt-tokens", method === "dart" ? "8" : "1",
        "--repeats", "1", "--json"], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`dart bench failed: ${r.stderr}`);
      return JSON.parse(r.stdout.trim().split("\n")[0]!).tokensPerSecond;
    },
  };
}

function llama2c(bin: string, file: string, threads: number, label: string): Engine {
  return {
    name: label,
    threads,
    run() {
      const r = spawnSync(resolve(binDir, bin), [file, "-z", resolve(dataDir, "tokenizer-32000.bin"), "-t", "0", "-n", String(tokens + 1)],
        { encoding: "utf8", env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
      const m = /achieved tok\/s: ([\d.]+)/.exec(r.stderr);
      if (!m) throw new Error(`${bin} printed no speed: ${r.stderr.slice(0, 300)}`);
      return Number(m[1]);
    },
  };
}

mkdirSync(resolve(CACHE, "perf"), { recursive: true });
const model = resolve(CACHE, "stories110M.bin");
if (!existsSync(model)) writeSynthModel(model, SHAPES.stories110M!, 1);
const binDir = resolve(CACHE, "llama2c");
const cc = process.env.CC ?? "gcc";
const haveCc = spawnSync(cc, ["--version"]).status === 0;
const haveTok = existsSync(resolve(dataDir, "tokenizer-32000.bin"));
const engines: Engine[] = threadCounts.flatMap((t) => [ours(t), ours(t, "q8_0"), ours(t, "q8_0", "dart")]);
if (!haveCc) console.error(`no C compiler (${cc}): skipping llama2.c, measuring dart-edge only`);
else if (!haveTok) console.error(`no tokenizer-32000.bin in ${dataDir}: skipping llama2.c, measuring dart-edge only`);
else {
  const built = spawnSync("bash", [resolve(REF, "build.sh"), binDir], { encoding: "utf8", env: { ...process.env, CC: cc } });
  if (built.status !== 0) throw new Error(`building llama2.c failed: ${built.stderr}`);
  const q80 = resolve(CACHE, "stories110M-q80.bin");
  if (!existsSync(q80)) {
    const conv = spawnSync(process.execPath, [resolve(REF, "v0-to-q80.mjs"), model, q80], { encoding: "utf8" });
    if (conv.status !== 0) throw new Error(`converting to Q8_0 failed: ${conv.stderr}`);
  }
  engines.push(...[
    llama2c("runfast", model, 1, "llama2.c run.c fp32 (-Ofast -march=native)"),
    llama2c("runomp", model, 2, "llama2.c run.c fp32 (OpenMP)"),
    llama2c("runqfast", q80, 1, "llama2.c runq.c int8 Q8_0"),
    llama2c("runqomp", q80, 2, "llama2.c runq.c int8 Q8_0 (OpenMP)"),
  ].filter((e) => threadCounts.includes(e.threads)));
}

const runs = new Map<Engine, number[]>(engines.map((e) => [e, []]));
for (let r = 0; r < rounds; r++) {
  for (const e of engines) {
    const tps = e.run();
    runs.get(e)!.push(tps);
    console.error(`round ${r + 1}/${rounds}  ${e.name.padEnd(44)} ${e.threads} thread(s)  ${tps.toFixed(2)} tok/s`);
  }
  report(r + 1); // after every round, so a run cut short still leaves its tables
}

function report(done: number): void {
const rows = engines.map((e) => ({ engine: e.name, threads: e.threads, tokensPerSecond: median(runs.get(e)!), runs: runs.get(e)! }));
  let md = `Side-by-side decode, stories110M shape (synthetic), ${tokens} tokens, ${done} alternating rounds, medians; ${new Date().toISOString()}\n`;
  const pct = (r: { tokensPerSecond: number }, base?: { tokensPerSecond: number }) => (base ? (r.tokensPerSecond / base.tokensPerSecond * 100).toFixed(0) + "%" : "n/a");
  for (const threads of threadCounts) {
    const group = rows.filter((r) => r.threads === threads);
    const base = group.find((r) => r.engine.includes("run.c"));
    const baseQ = group.find((r) => r.engine.includes("runq.c"));
    md += `\n**${threads} thread${threads > 1 ? "s" : ""}**\n\n| engine | tok/s (median) | runs | vs run.c fp32 | vs runq.c int8 |\n|---|---|---|---|---|\n`;
    for (const r of group) {
      md += `| ${r.engine} | ${r.tokensPerSecond.toFixed(2)} | ${r.runs.map((x) => x.toFixed(1)).join(", ")} | ${pct(r, base)} | ${pct(r, baseQ)} |\n`;
    }
  }
  writeFileSync(resolve(CACHE, "perf/anchor.json"), JSON.stringify({ tokens, rounds: done, rows }, null, 2));
  writeFileSync(resolve(CACHE, "perf/anchor.md"), md);
  if (done === rounds) process.stdout.write(md);
}
