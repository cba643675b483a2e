// `dart bench --kernels`: one matvec at real shapes on each implementation, one
// thread: the reference TypeScript kernel, the WASM SIMD kernel (and its
// row-accumulating form used by the compacted down_proj), and onnxruntime-web's
// wasm MatMul. GFLOP/s = 2 n d / time; GB/s = weight bytes / time.
import * as ort from "onnxruntime-web";
import { WasmBackend } from "../shared/engine/backend/index.ts";
import { matvec } from "../shared/engine/kernels.ts";
import { median } from "./membw.ts";
import { matmulModel } from "./onnx-matmul.ts";
import { parseFlags } from "./usage.ts";

const SHAPES = [
  { name: "stories110M FFN up (2048x768)", n: 768, d: 2048 },
  { name: "Llama-3.1-8B FFN up (14336x4096)", n: 4096, d: 14336 },
];

function fill(a: Float32Array, seed: number): Float32Array {
  let s = seed;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

/** Calls per timed batch so that one batch lasts >= ~30 ms. */
async function batchSize(fn: () => void | Promise<unknown>): Promise<number> {
  await fn();
  for (let calls = 1; ; calls *= 2) {
    const t0 = performance.now();
    for (let i = 0; i < calls; i++) await fn();
    if (performance.now() - t0 > 30) return calls;
  }
}

/** Median seconds per call of each implementation, batches interleaved round-robin (a noisy machine slows all alike). */
async function timeInterleaved(fns: (() => void | Promise<unknown>)[], reps = 9): Promise<number[]> {
  const calls = await Promise.all(fns.map(async (fn) => batchSize(fn)));
  const per: number[][] = fns.map(() => []);
  for (let r = 0; r < reps; r++) {
    for (let i = 0; i < fns.length; i++) {
      const t0 = performance.now();
      for (let c = 0; c < calls[i]!; c++) await fns[i]!();
      per[i]!.push((performance.now() - t0) / 1000 / calls[i]!);
    }
  }
  return per.map(median);
}

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, { kernels: { type: "boolean" }, json: { type: "boolean" } });
  ort.env.wasm.numThreads = 1;
  const rows: Record<string, unknown>[] = [];
  for (const { name, n, d } of SHAPES) {
    const be = new WasmBackend({ segmentBytes: n * d * 4 + (64 << 20) });
    const w = fill(be.alloc(n * d), 1);
    const x = fill(be.alloc(n), 2), out = be.alloc(d);
    const xd = fill(be.alloc(d), 3), outn = be.alloc(n);
    const k = be.arena.segments[0]!.kernels;
    const jsOut = new Float32Array(d);
    const session = await ort.InferenceSession.create(matmulModel(w, n, d), { executionProviders: ["wasm"] });
    const feeds = { x: new ort.Tensor("float32", x.slice(), [1, n]) };
    const impls: [string, () => void | Promise<unknown>][] = [
      ["typescript", () => matvec(jsOut, x, w, n, d)],
      ["wasm-simd matvec", () => k.matvec(out.byteOffset, x.byteOffset, w.byteOffset, n, d)],
      ["wasm-simd accum_rows", () => k.accum_rows(outn.byteOffset, xd.byteOffset, w.byteOffset, d, n)],
      ["onnxruntime-web", () => session.run(feeds)],
    ];
    const secs = await timeInterleaved(impls.map(([, fn]) => fn));
    for (const [i, [impl]] of impls.entries()) {
      const s = secs[i]!;
      rows.push({ shape: name, n, d, impl, microseconds: s * 1e6, gflops: (2 * n * d) / s / 1e9, weightGBps: (4 * n * d) / s / 1e9, threads: 1 });
    }
    await session.release();
  }
  for (const r of rows) {
    process.stdout.write(
      v.json ? JSON.stringify(r) + "\n"
        : `${String(r.shape).padEnd(34)} ${String(r.impl).padEnd(22)} ${(r.gflops as number).toFixed(2).padStart(7)} GFLOP/s ${(r.weightGBps as number).toFixed(2).padStart(7)} GB/s\n`,
    );
  }
}
