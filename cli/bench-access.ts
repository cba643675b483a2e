// `npm run bench:access`: why the fp32 kernels read memory the way they do. Reads the
// same weights with kernels that differ only in access pattern, in one process, rounds
// interleaved, and prints GB/s medians (JSON to .cache/perf/access.json):
//   - matvec over a row-major matrix: R rows at a time with U accumulators per row
//     (1x4 is the kernel in use; 4x1 the one before it);
//   - FFN gate/up dots over neuron-major [gate|up|down] bundles, dense and at 30% kept:
//     P neurons in flight (4 is the kernel in use);
//   - the down projection over the same bundles: P columns per pass (8 in use).
// The variants are built here with the same encoder as the kernels (wasm-kernels.ts).
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { kernelsWasmBytes } from "../shared/engine/backend/wasm-kernels.ts";
import { addTo, encodeModule, hsum, I32, op, rowFma, V128, whileNot, type FuncDef, type ValType } from "../shared/engine/backend/wasm-encoder.ts";
import { wasmApi } from "../shared/engine/backend/wasm-module.ts";
import { median } from "./membw.ts";

const { get, set, i32, add, shl, geU } = op;
const locals = (i: number, v: number): ValType[] => [...new Array<ValType>(i).fill(I32), ...new Array<ValType>(v).fill(V128)];

/** matvec, R rows at a time, U f32x4 accumulators per row (d % R == 0, n % 4U == 0). */
function matvecRU(R: number, U: number): FuncDef {
  const [out, x, w, n, d] = [0, 1, 2, 3, 4];
  const [nb, end, j] = [5, 6, 7];
  const rows = Array.from({ length: R }, (_, r) => (r === 0 ? w : 7 + r)); // row pointers
  const xs = Array.from({ length: U }, (_, u) => 8 + R - 1 + u);
  const acc = rows.map((_, r) => Array.from({ length: U }, (_, u) => 8 + R - 1 + U + r * U + u));
  return {
    name: `mv${R}x${U}`, params: [I32, I32, I32, I32, I32], locals: locals(3 + R - 1, U + R * U),
    body: [
      ...get(n), ...i32(2), ...shl, ...set(nb), ...get(out), ...get(d), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(out), ...get(end), ...geU], [
        ...rows.slice(1).flatMap((p, r) => addTo(p, rows[r]!, get(nb))),
        ...acc.flat().flatMap((a) => [...op.v128Zero, ...set(a)]), ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(nb), ...geU], [
          ...xs.flatMap((v, u) => [...get(x), ...get(j), ...add, ...op.v128Load(16 * u), ...set(v)]),
          ...rows.flatMap((p, r) => xs.flatMap((v, u) => rowFma(acc[r]![u]!, p, j, v, 16 * u))),
          ...addTo(j, j, i32(16 * U)),
        ]),
        ...acc.flatMap((as, r) => [...get(out), ...get(as[0]!), ...as.slice(1).flatMap((a) => [...get(a), ...op.f32x4Add]),
          ...set(as[0]!), ...hsum(as[0]!), ...op.f32Store(4 * r)]),
        ...addTo(out, out, i32(4 * R)), ...addTo(w, rows[R - 1]!, get(nb)),
      ]),
    ],
  };
}

/** bundle gate/up dots, P neurons (2P rows) in flight (k % P == 0). */
function dotsP(P: number): FuncDef {
  const [h1, h2, x, base, idx, k, dim] = [0, 1, 2, 3, 4, 5, 6];
  const [rb, stride, end, j] = [7, 8, 9, 10];
  const g = Array.from({ length: P }, (_, p) => 11 + p), u = g.map((r) => r + P);
  const xv = 11 + 2 * P, G = g.map((_, p) => xv + 1 + p), U = g.map((_, p) => xv + 1 + P + p);
  return {
    name: `dots${P}`, params: new Array<ValType>(7).fill(I32), locals: locals(4 + 2 * P, 1 + 2 * P),
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(rb), ...get(rb), ...i32(3), ...op.mul, ...set(stride),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...g.flatMap((gp, p) => [...get(base), ...get(idx), ...op.i32Load(4 * p), ...get(stride), ...op.mul, ...add, ...set(gp),
          ...addTo(u[p]!, gp, get(rb))]),
        ...[...G, ...U].flatMap((a) => [...op.v128Zero, ...set(a)]), ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(rb), ...geU], [
          ...get(x), ...get(j), ...add, ...op.v128Load(), ...set(xv),
          ...g.flatMap((gp, p) => [...rowFma(G[p]!, gp, j, xv, 0), ...rowFma(U[p]!, u[p]!, j, xv, 0)]),
          ...addTo(j, j, i32(16)),
        ]),
        ...G.flatMap((a, p) => [...get(h1), ...hsum(a), ...op.f32Store(4 * p)]),
        ...U.flatMap((a, p) => [...get(h2), ...hsum(a), ...op.f32Store(4 * p)]),
        ...addTo(h1, h1, i32(4 * P)), ...addTo(h2, h2, i32(4 * P)), ...addTo(idx, idx, i32(4 * P)),
      ]),
    ],
  };
}

/** bundle down projection, P columns per pass (k % P == 0). */
function accumP(P: number): FuncDef {
  const [out, a, base, idx, k, dim] = [0, 1, 2, 3, 4, 5];
  const [rb, stride, end, j] = [6, 7, 8, 9];
  const d = Array.from({ length: P }, (_, p) => 10 + p), s = d.map((r) => r + P);
  const term = (p: number) => [...get(s[p]!), ...get(d[p]!), ...get(j), ...add, ...op.v128Load(), ...op.f32x4Mul];
  const sum = (from: number, to: number): number[] =>
    to - from === 1 ? term(from) : [...sum(from, (from + to) >> 1), ...sum((from + to) >> 1, to), ...op.f32x4Add];
  return {
    name: `accum${P}`, params: new Array<ValType>(6).fill(I32), locals: locals(4 + P, P),
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(rb), ...get(rb), ...i32(3), ...op.mul, ...set(stride),
      ...get(base), ...get(rb), ...i32(1), ...shl, ...add, ...set(base),
      ...i32(0), ...set(j),
      ...whileNot([...get(j), ...get(rb), ...geU], [...get(out), ...get(j), ...add, ...op.v128Zero, ...op.v128Store(), ...addTo(j, j, i32(16))]),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...d.flatMap((dp, p) => [...get(base), ...get(idx), ...op.i32Load(4 * p), ...get(stride), ...op.mul, ...add, ...set(dp)]),
        ...s.flatMap((sp, p) => [...get(a), ...op.f32Load(4 * p), ...op.f32x4Splat, ...set(sp)]),
        ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(rb), ...geU], [
          ...get(out), ...get(j), ...add, ...get(out), ...get(j), ...add, ...op.v128Load(), ...sum(0, P), ...op.f32x4Add, ...op.v128Store(),
          ...addTo(j, j, i32(16)),
        ]),
        ...addTo(a, a, i32(4 * P)), ...addTo(idx, idx, i32(4 * P)),
      ]),
    ],
  };
}

const MATVEC = [[1, 4], [1, 8], [2, 2], [4, 1], [4, 2], [8, 1]] as const;
const NEURONS = [1, 2, 4, 8] as const;
const COLUMNS = [1, 4, 8, 12] as const;

type Kernel = (...args: number[]) => void;
const wasm = (bytes: Uint8Array, memory: object) =>
  new wasmApi.Instance(new wasmApi.Module(bytes), { env: { memory } }).exports as Record<string, Kernel>;
const memory = new wasmApi.Memory({ initial: 5200 }); // 325 MiB
const V = wasm(encodeModule([...MATVEC.map(([r, u]) => matvecRU(r, u)), ...NEURONS.map(dotsP), ...COLUMNS.map(accumP)]), memory);
const K = wasm(kernelsWasmBytes(), memory);
const f32 = new Float32Array(memory.buffer), i32a = new Int32Array(memory.buffer);
const W0 = 1 << 20, TOTAL = 300 << 20; // weights: far more than any cache, read in turn
for (let i = 0, s = 1; i < TOTAL / 4; i++) f32[W0 / 4 + i] = ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
const [X, H1, H2, OUT, IDX] = [0, 16 << 10, 32 << 10, 48 << 10, 64 << 10];
for (let i = 0; i < 4096; i++) f32[X / 4 + i] = Math.sin(i);
const dim = 768, hidden = 2048, layerBytes = 3 * dim * hidden * 4; // the stories110M shape

/** Slot lists: every neuron, or a fixed 30% spread over the layer, as DART keeps them (length a multiple of 24). */
function slots(keep: number): number {
  let k = 0;
  for (let s = 0; s < hidden; s++) if (keep === 1 || (s * 7919) % 10 < keep * 10) i32a[IDX / 4 + k++] = s;
  return k - (k % 24);
}

const rounds = Number(process.argv[2] ?? 7);
const runs = new Map<string, number[]>();
let warm = false; // round 0 only warms up (V8 compiles WASM in tiers)
function time(name: string, bytes: number, calls: number, fn: (i: number) => void): void {
  const t = performance.now();
  for (let i = 0; i < calls; i++) fn(i);
  const gbps = (bytes * calls) / ((performance.now() - t) / 1000) / 1e9;
  if (warm) runs.set(name, [...(runs.get(name) ?? []), gbps]);
}
for (let r = 0; r <= rounds; r++, warm = true) {
  const mb = dim * dim * 4, count = Math.floor(TOTAL / mb);
  time("matvec 768x768: kernel in use", mb, count, (i) => K.matvec!(OUT, X, W0 + i * mb, dim, dim));
  for (const [R, U] of MATVEC) time(`matvec 768x768: ${R} row(s) x ${U} accumulator(s)`, mb, count, (i) => V[`mv${R}x${U}`]!(OUT, X, W0 + i * mb, dim, dim));
  const layers = Math.floor(TOTAL / layerBytes);
  for (const keep of [1, 0.3]) {
    const k = slots(keep), label = keep === 1 ? "dense" : "30% kept";
    time(`ffn gate/up dots ${label}: kernel in use`, k * 2 * dim * 4, layers, (i) => K.bundle_dots!(H1, H2, X, W0 + i * layerBytes, IDX, k, dim));
    for (const p of NEURONS) time(`ffn gate/up dots ${label}: ${p} neuron(s) in flight`, k * 2 * dim * 4, layers, (i) => V[`dots${p}`]!(H1, H2, X, W0 + i * layerBytes, IDX, k, dim));
    time(`ffn down ${label}: kernel in use`, k * dim * 4, layers, (i) => K.bundle_accum!(OUT, H1, W0 + i * layerBytes, IDX, k, dim));
    for (const p of COLUMNS) time(`ffn down ${label}: ${p} column(s) per pass`, k * dim * 4, layers, (i) => V[`accum${p}`]!(OUT, H1, W0 + i * layerBytes, IDX, k, dim));
  }
}
const result = [...runs].map(([name, gbps]) => ({ name, gbpsMedian: Number(median(gbps).toFixed(2)), runs: gbps.map((g) => Number(g.toFixed(2))) }));
mkdirSync(resolve(import.meta.dirname, "../.cache/perf"), { recursive: true });
writeFileSync(resolve(import.meta.dirname, "../.cache/perf/access.json"), JSON.stringify({ rounds, result }, null, 2));
for (const r of result) console.log(`${r.name.padEnd(52)} ${r.gbpsMedian.toFixed(1).padStart(6)} GB/s`);
