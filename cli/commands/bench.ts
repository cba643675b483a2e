import { existsSync, openSync, readSync, closeSync, readFileSync } from "node:fs";
import { BACKEND_NAMES, WasmBackend, tsBackend, type Backend } from "../../shared/engine/backend/index.ts";
import { defaultBackendName } from "../../shared/engine/backend/index.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { WEIGHT_FORMATS, type WeightFormat } from "../../shared/engine/quantize-weights.ts";
import { GGUF_MAGIC } from "../../shared/model/gguf.ts";
import { loadModel } from "../../shared/model/load.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import { bench, type BenchConfig } from "../bench-core.ts";
import { readLlama2cFile } from "../llama2c-stream.ts";
import { checkNotTokenizer } from "../model-files.ts";
import { median, memcpyGBps } from "../membw.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import * as transfer from "./bench-transfer.ts";
import { ThreadedWasmBackend } from "../wasm-threads.ts";
import { setForwardProxy, setGenericStats } from "../../shared/dart/priors.ts";

export const usage = `dart bench --model <file> [--method dense,mask,dart,...] [--sparsity 0.5,0.7] [--tokens <n>]
           [--prompt-tokens <n>] [--repeats <n>] [--backend ts,wasm,wasm-mt | --threads 1,2] [--weights f32,q8_0]
           [--seed <s>] [--synthetic-priors] [--json]
  Decode speed (wasm-mt: two threads, the rest one; --threads 1 is wasm, 2 is wasm-mt):
  tokensPerSecond (decode only, re-masks included, median over
  repeats), prefill speed, weight bytes per decoded token (DART's dense tokens included),
  effective sparsity and GB/s, next to this machine's memory-copy bandwidth floor. "mask"
  installs static compacted masks of random neurons (speed does not depend on which).
  --synthetic-priors gives DART seeded random priors instead of computing them (hours at the
  8B shape; speed on synthetic weights only). Configurations run interleaved; --json prints
  one JSON object per configuration, one per line. --weights q8_0 holds the matrices and FFN in
  Q8_0 (quantized at load; a GGUF q8_0 file's tensors as they are) and runs the integer kernels;
  a list (f32,q8_0) runs both side by side.
dart bench --kernels [--json]   matvec microbenchmark: TypeScript, WASM SIMD, onnxruntime-web
${transfer.usage}`;

const list = (v: string | undefined, fallback: string) => (v ?? fallback).split(",").map((s) => s.trim()).filter(Boolean);

function isGgufFile(path: string): boolean {
  const fd = openSync(path, "r");
  const b = new Uint8Array(4);
  readSync(fd, b, 0, 4, 0);
  closeSync(fd);
  return new DataView(b.buffer).getUint32(0, true) === GGUF_MAGIC;
}

export async function run(argv: string[]): Promise<void> {
  // Other benchmarks share the command: weight transfer (bench-transfer.ts) and kernels.
  if (argv.includes("--transfer")) return transfer.run(argv);
  if (argv.includes("--kernels")) return (await import("../bench-kernels.ts")).run(argv);

  const v = parseFlags(argv, {
    model: { type: "string" }, method: { type: "string" }, sparsity: { type: "string" }, tokens: { type: "string" },
    "prompt-tokens": { type: "string" }, repeats: { type: "string" }, backend: { type: "string" }, seed: { type: "string" },
    json: { type: "boolean" }, "synthetic-priors": { type: "boolean" }, threads: { type: "string" }, weights: { type: "string" },
  });
  const formats = list(v.weights, "f32") as WeightFormat[];
  for (const f of formats) if (!WEIGHT_FORMATS.includes(f)) throw new UsageError(`unknown --weights "${f}": use ${WEIGHT_FORMATS.join(", ")}`);
  if (v.threads !== undefined && v.backend !== undefined) throw new UsageError("use --backend or --threads, not both");
  const byThreads: Record<string, string> = { "1": "wasm", "2": "wasm-mt" };
  for (const t of list(v.threads, "")) if (!byThreads[t]) throw new UsageError(`--threads must be 1 or 2 (this engine runs at most two threads), got "${t}"`);
  if (v.threads !== undefined) v.backend = list(v.threads, "").map((t) => byThreads[t]).join(",");
  const path = required(v, "model");
  if (!existsSync(path)) throw new UsageError(`model file not found: ${path}`);
  const tokens = numberFlag(v, "tokens", 64, { integer: true, min: 1 });
  const promptTokens = numberFlag(v, "prompt-tokens", 16, { integer: true, min: 1 });
  const repeats = numberFlag(v, "repeats", 3, { integer: true, min: 1 });
  const seed = numberFlag(v, "seed", 1, { integer: true, min: 0 });
  const methods = list(v.method, "dense");
  const sparsities = list(v.sparsity, "0.5,0.7").map((s) => {
    const x = Number(s);
    if (!(x >= 0 && x <= 0.9)) throw new UsageError(`--sparsity values must be in [0, 0.9], got "${s}"`);
    return x;
  });
  const names = [...BACKEND_NAMES, "wasm-mt"];
  const backends = list(v.backend, defaultBackendName());
  for (const b of backends) if (!names.includes(b)) throw new UsageError(`unknown backend "${b}": use ${names.join(", ")}`);

  // Weights are read once, straight into WASM memory when a wasm backend is used; the
  // TypeScript backend reads the same arrays (its kernels work on any Float32Array).
  // With wasm-mt, the memory is shared and "wasm" is the same backend held to one thread.
  const mt = backends.includes("wasm-mt") ? new ThreadedWasmBackend({ segmentBytes: 2 ** 31 }) : null;
  const wasm = mt ?? (backends.includes("wasm") ? new WasmBackend({ segmentBytes: 2 ** 31 }) : null);
  const alloc = wasm ? (n: number) => wasm.alloc(n) : undefined;
  checkNotTokenizer(path);
  const t0 = performance.now();
  const byBackend = new Map<string, Transformer>(); // keyed "format backend"
  {
    // The loaded model's row-major FFN matrices are garbage once the Transformers hold them neuron-major.
    // Only an fp32-only run reads the file straight into WASM memory; otherwise only the engines' copies live there.
    const model: LoadedModel = isGgufFile(path) ? loadModel(new Uint8Array(readFileSync(path))) : readLlama2cFile(path, formats.length === 1 && formats[0] === "f32" ? alloc : undefined);
    for (const format of formats) {
      let first: Transformer | null = null;
      for (const b of backends) {
        const be: Backend = b === "ts" ? tsBackend : wasm!;
        const tf: Transformer = new Transformer(first ?? model, { backend: be, weights: format });
        first ??= tf;
        byBackend.set(`${format} ${b}`, tf);
        if (v["synthetic-priors"]) installSyntheticPriors(tf, seed);
      }
    }
  }
  const loadSeconds = (performance.now() - t0) / 1000;

  const configs: BenchConfig[] = [];
  for (const format of formats) {
    for (const b of backends) {
      for (const method of methods) {
        const setup = mt ? () => void (mt.threads = b === "wasm-mt" ? 2 : 1) : undefined;
        for (const sparsity of method === "dense" ? [0] : sparsities) configs.push({ method, sparsity, tf: byBackend.get(`${format} ${b}`)!, backend: b, setup });
      }
    }
  }
  // The copy bandwidth is sampled once per round, between the runs, so it sees the same machine load.
  const copies: number[] = [];
  const results = bench(configs, { promptTokens, tokens, repeats, seed, between: () => copies.push(memcpyGBps(128 << 20, 3)) });
  const gbps = median(copies);
  mt?.close();
  const c = byBackend.get(`${formats[0]} ${backends[0]}`)!.config;
  for (const r of results) {
    const floorTokensPerSecond = (gbps * 1e9) / r.weightBytesPerToken;
    const out = {
      model: path,
      config: { dim: c.dim, hiddenDim: c.hiddenDim, nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, vocabSize: c.vocabSize },
      ...r,
      idealSpeedup: r.denseWeightBytesPerToken / r.weightBytesPerToken,
      memcpyGBps: gbps,
      memcpyGBpsMax: Math.max(...copies),
      floorTokensPerSecond,
      fractionOfFloor: r.tokensPerSecond / floorTokensPerSecond,
      threads: r.backend === "wasm-mt" ? 2 : 1,
      promptTokens,
      tokens,
      repeats,
      loadSeconds,
    };
    if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
    else {
      process.stdout.write(
        `${r.backend.padEnd(5)} ${r.weights.padEnd(4)} ${r.method.padEnd(10)} sparsity ${r.sparsity.toFixed(2)}  ${r.tokensPerSecond.toFixed(2).padStart(9)} tok/s` +
          `  prefill ${r.prefillTokensPerSecond.toFixed(2).padStart(9)} tok/s  ${(r.weightBytesPerToken / 1e6).toFixed(1)} MB/token` +
          `  eff. sparsity ${r.effectiveSparsity.toFixed(3)}  ${r.effectiveGBps.toFixed(2)} GB/s  floor ${floorTokensPerSecond.toFixed(2)} tok/s\n`,
      );
    }
  }
}

/** Seeded random stand-ins for DART's per-model priors: the same work per token, no meaning. */
export function installSyntheticPriors(tf: Transformer, seed: number): void {
  const { nLayers, hiddenDim } = tf.config;
  let s = seed >>> 0 || 1;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const layers = (f: () => number) => Array.from({ length: nLayers }, () => Float32Array.from({ length: hiddenDim }, f));
  setForwardProxy(tf, { gMax: layers(() => 1 + rand()), gMean: layers(() => 0.5 + rand()) });
  const stats = { meanEnergy: layers(() => 0.01 + rand()), meanActivation: layers(() => rand() - 0.5), tokens: 2048 };
  setGenericStats(tf, "self", stats);
  setGenericStats(tf, "text", stats);
}
