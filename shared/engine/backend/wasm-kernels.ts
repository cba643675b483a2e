// The WASM SIMD kernels (f32x4), written with the tiny encoder in wasm-encoder.ts.
// All pointers are byte offsets into the imported memory. Vector widths must be
// multiples of 4 floats; the backend falls back to the TypeScript kernels otherwise.
// Each mirrors a reference kernel in ../kernels.ts (summation order differs, so
// results agree to rounding, not bit for bit).
//
// Reading a kernel: the body is WebAssembly's stack code spelled as arrays, one helper
// per idiom. `get(a)`/`set(a)` read and write local `a`, `whileNot(cond, body)` is
// `while (!cond) { body }`, `op.v128Load(off)` loads 4 floats at the address on the
// stack plus `off` bytes, `addTo(j, j, i32(16))` is `j += 16` (one f32x4, in bytes).
// Each kernel's comment gives the loop it encodes in C-like pseudocode ("v" marks
// f32x4 values, "hsum" the sum of a vector's four lanes); docs/performance.md says why
// the kernels are written this way and not in AssemblyScript.
import { addTo, encodeModule, F32, hsum, I32, op, rowFma, V128, whileNot, type FuncDef, type ValType } from "./wasm-encoder.ts";
import { q8Kernels, type Q8KernelExports } from "./wasm-kernels-q8.ts";

const { get, set, i32, add, shl, geU, gtU } = op;
/** acc += load(p + j + off) * load(q + j + off), as f32x4. */
const fma = (acc: number, p: number, q: number, j: number, off: number) => [
  ...get(acc),
  ...get(p), ...get(j), ...add, ...op.v128Load(off),
  ...get(q), ...get(j), ...add, ...op.v128Load(off),
  ...op.f32x4Mul, ...op.f32x4Add, ...set(acc),
];
/** store(dst + j) = load(dst + j) + splat(s) * load(src + j), `s` a v128 local. */
const axpy = (dst: number, s: number, src: number, j: number) => [
  ...get(dst), ...get(j), ...add,
  ...get(dst), ...get(j), ...add, ...op.v128Load(),
  ...get(s), ...get(src), ...get(j), ...add, ...op.v128Load(), ...op.f32x4Mul,
  ...op.f32x4Add, ...op.v128Store(),
];
/** Zeroes `bytes` (a local) bytes at local `dst`, using local `j` as the counter. */
const zero = (dst: number, bytes: number, j: number) => [
  ...i32(0), ...set(j),
  ...whileNot([...get(j), ...get(bytes), ...geU], [
    ...get(dst), ...get(j), ...add, ...op.v128Zero, ...op.v128Store(),
    ...addTo(j, j, i32(16)),
  ]),
];

/**
 * matvec(out, x, w, n, d): out[i] = dot(w row i, x), rows of n floats.
 * One row at a time, so the weights are read as one sequential stream (the hardware
 * prefetcher's best case: on the Zen 5 cores measured here, 26-28 GB/s against 15 GB/s for
 * four rows interleaved, see docs/performance.md), with four accumulators to hide the
 * add latency.
 *
 *   for (i = 0; i < d; i++) {
 *     v a0..a3 = 0
 *     for (j = 0; j + 16 <= n; j += 16) { a0 += w[j..] * x[j..]; a1 += w[j+4..] * x[j+4..]; ... a3 ... }
 *     for (; j < n; j += 4) a0 += w[j..] * x[j..]
 *     out[i] = hsum((a0 + a1) + (a2 + a3)); w += n
 *   }
 */
function matvec(): FuncDef {
  const [out, x, w, n, d] = [0, 1, 2, 3, 4];
  const [nb, end, j, a0, a1, a2, a3] = [5, 6, 7, 8, 9, 10, 11];
  return {
    name: "matvec",
    params: [I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, V128, V128, V128, V128],
    body: [
      ...get(n), ...i32(2), ...shl, ...set(nb),
      ...get(out), ...get(d), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(out), ...get(end), ...geU], [
        ...op.v128Zero, ...set(a0), ...op.v128Zero, ...set(a1), ...op.v128Zero, ...set(a2), ...op.v128Zero, ...set(a3),
        ...i32(0), ...set(j),
        ...whileNot([...get(j), ...i32(64), ...add, ...get(nb), ...gtU], [
          ...fma(a0, w, x, j, 0), ...fma(a1, w, x, j, 16), ...fma(a2, w, x, j, 32), ...fma(a3, w, x, j, 48),
          ...addTo(j, j, i32(64)),
        ]),
        ...whileNot([...get(j), ...get(nb), ...geU], [...fma(a0, w, x, j, 0), ...addTo(j, j, i32(16))]),
        ...get(out),
        ...get(a0), ...get(a1), ...op.f32x4Add, ...get(a2), ...get(a3), ...op.f32x4Add, ...op.f32x4Add, ...set(a0),
        ...hsum(a0), ...op.f32Store(),
        ...addTo(out, out, i32(4)),
        ...addTo(w, w, get(nb)),
      ]),
    ],
  };
}

/**
 * accum_rows(out, a, w, k, dim): out = sum_i a[i] * (w row i), rows of dim floats (compacted down_proj).
 *
 *   out[0..dim) = 0
 *   for (i = 0; i < k; i++) { v s = splat(a[i]); for (j = 0; j < dim; j += 4) out[j..] += s * w[i*dim + j..] }
 */
function accumRows(): FuncDef {
  const [out, a, w, k, dim] = [0, 1, 2, 3, 4];
  const [db, end, j, av] = [5, 6, 7, 8];
  return {
    name: "accum_rows",
    params: [I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, V128],
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(db),
      ...zero(out, db, j),
      ...get(a), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(a), ...get(end), ...geU], [
        ...get(a), ...op.f32Load(), ...op.f32x4Splat, ...set(av),
        ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(db), ...geU], [...axpy(out, av, w, j), ...addTo(j, j, i32(16))]),
        ...addTo(a, a, i32(4)),
        ...addTo(w, w, get(db)),
      ]),
    ],
  };
}

/**
 * bundle_dots(h1, h2, x, base, idx, k, dim): for each slot s = idx[i] (i < k) of the
 * neuron-major bundles at `base` (per slot [gate | up | down], dim floats each):
 * h1[i] = dot(gate row, x), h2[i] = dot(up row, x). Four neurons at a time: eight rows
 * read side by side, x loaded once for all eight. The rows are 1-2 KB pieces between
 * gaps (the down column, other neurons), where one sequential stream stalls at every
 * piece and several in flight keep memory busy (measured: 1 neuron 9 GB/s, 2: 11,
 * 4: 14-15, in docs/performance.md).
 *
 *   for (i = 0; i + 4 <= k; i += 4) {
 *     g0..g3, u0..u3 = gate and up rows of slots idx[i..i+4)        // bundle = base + slot*3*dim
 *     v G0..G3, U0..U3 = 0
 *     for (j = 0; j < dim; j += 4) { v xv = x[j..]; G0 += g0[j..]*xv; U0 += u0[j..]*xv; ... G3, U3 }
 *     h1[i..i+4) = hsum(G0..G3); h2[i..i+4) = hsum(U0..U3)
 *   }
 *   for (; i < k; i++) the same for one neuron
 */
function bundleDots(): FuncDef {
  const [h1, h2, x, base, idx, k, dim] = [0, 1, 2, 3, 4, 5, 6];
  const [rb, stride, end, end4, j] = [7, 8, 9, 10, 11];
  const g = [12, 13, 14, 15], u = [16, 17, 18, 19];
  const [xv, G, U] = [20, [21, 22, 23, 24], [25, 26, 27, 28]];
  const slot = (p: number) => [
    ...get(base), ...get(idx), ...op.i32Load(4 * p), ...get(stride), ...op.mul, ...add, ...set(g[p]!),
    ...addTo(u[p]!, g[p]!, get(rb)),
  ];
  /** n neurons (1 or 4) from idx: their dots into h1[0..n), h2[0..n), then h1, h2, idx advance. */
  const neurons = (n: number) => [
    ...Array.from({ length: n }, (_, p) => slot(p)).flat(),
    ...[...G.slice(0, n), ...U.slice(0, n)].flatMap((a) => [...op.v128Zero, ...set(a)]),
    ...i32(0), ...set(j),
    ...whileNot([...get(j), ...get(rb), ...geU], [
      ...get(x), ...get(j), ...add, ...op.v128Load(), ...set(xv),
      ...Array.from({ length: n }, (_, p) => [...rowFma(G[p]!, g[p]!, j, xv), ...rowFma(U[p]!, u[p]!, j, xv)]).flat(),
      ...addTo(j, j, i32(16)),
    ]),
    ...G.slice(0, n).flatMap((a, p) => [...get(h1), ...hsum(a), ...op.f32Store(4 * p)]),
    ...U.slice(0, n).flatMap((a, p) => [...get(h2), ...hsum(a), ...op.f32Store(4 * p)]),
    ...addTo(h1, h1, i32(4 * n)), ...addTo(h2, h2, i32(4 * n)), ...addTo(idx, idx, i32(4 * n)),
  ];
  return {
    name: "bundle_dots",
    params: [I32, I32, I32, I32, I32, I32, I32],
    locals: [...new Array<ValType>(13).fill(I32), ...new Array<ValType>(9).fill(V128)],
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(rb),
      ...get(rb), ...i32(3), ...op.mul, ...set(stride),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...get(idx), ...get(k), ...i32(-4), ...op.and, ...i32(2), ...shl, ...add, ...set(end4),
      ...whileNot([...get(idx), ...get(end4), ...geU], neurons(4)),
      ...whileNot([...get(idx), ...get(end), ...geU], neurons(1)),
    ],
  };
}

/**
 * bundle_accum(out, a, base, idx, k, dim): out[0..dim) = sum_i a[i] * (down column of slot idx[i]).
 * Eight neurons at a time: eight columns read side by side (as in bundle_dots, several
 * pieces in flight), and `out` loaded and stored once per eight.
 *
 *   out[0..dim) = 0
 *   for (i = 0; i + 8 <= k; i += 8) {
 *     d0..d7 = down columns of slots idx[i..i+8)       // base + slot*3*dim + 2*dim
 *     v s0..s7 = splat(a[i]) .. splat(a[i+7])
 *     for (j = 0; j < dim; j += 4) out[j..] += ((s0*d0[j..] + s1*d1[j..]) + (s2*d2[j..] + s3*d3[j..])) + (... s4..s7 ...)
 *   }
 *   for (; i < k; i++) { v s = splat(a[i]); for (j ...) out[j..] += s * (down column of idx[i])[j..] }
 */
function bundleAccum(): FuncDef {
  const [out, a, base, idx, k, dim] = [0, 1, 2, 3, 4, 5];
  const [rb, stride, end, end8, j] = [6, 7, 8, 9, 10];
  const d = [11, 12, 13, 14, 15, 16, 17, 18], s = [19, 20, 21, 22, 23, 24, 25, 26];
  const col = (p: number) => [...get(base), ...get(idx), ...op.i32Load(4 * p), ...get(stride), ...op.mul, ...add, ...set(d[p]!)];
  const coef = (p: number) => [...get(a), ...op.f32Load(4 * p), ...op.f32x4Splat, ...set(s[p]!)];
  const term = (p: number) => [...get(s[p]!), ...get(d[p]!), ...get(j), ...add, ...op.v128Load(), ...op.f32x4Mul];
  /** The terms p in [from, to) summed pairwise. */
  const sum = (from: number, to: number): number[] =>
    to - from === 1 ? term(from) : [...sum(from, (from + to) >> 1), ...sum((from + to) >> 1, to), ...op.f32x4Add];
  /** n columns (1 or 8) from idx added into out, then a and idx advance. */
  const columns = (n: number) => [
    ...Array.from({ length: n }, (_, p) => [...col(p), ...coef(p)]).flat(),
    ...i32(0), ...set(j),
    ...whileNot([...get(j), ...get(rb), ...geU], [
      ...get(out), ...get(j), ...add,
      ...get(out), ...get(j), ...add, ...op.v128Load(), ...sum(0, n), ...op.f32x4Add,
      ...op.v128Store(),
      ...addTo(j, j, i32(16)),
    ]),
    ...addTo(a, a, i32(4 * n)), ...addTo(idx, idx, i32(4 * n)),
  ];
  return {
    name: "bundle_accum",
    params: [I32, I32, I32, I32, I32, I32],
    locals: [...new Array<ValType>(13).fill(I32), ...new Array<ValType>(8).fill(V128)],
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(rb),
      ...get(rb), ...i32(3), ...op.mul, ...set(stride),
      // base now points at slot 0's down column
      ...get(base), ...get(rb), ...i32(1), ...shl, ...add, ...set(base),
      ...zero(out, rb, j),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...get(idx), ...get(k), ...i32(-8), ...op.and, ...i32(2), ...shl, ...add, ...set(end8),
      ...whileNot([...get(idx), ...get(end8), ...geU], columns(8)),
      ...whileNot([...get(idx), ...get(end), ...geU], columns(1)),
    ],
  };
}

/**
 * rows_dot(out, ostride, x, n, ntok, base, idx, k, rstride): for each listed row i < k
 * (at base + idx[i] * rstride bytes, n floats) and each token t < ntok (x + t*n floats):
 * out[t*ostride + i] = dot(row, x_t). The batched (prefill) matmul: each weight row is
 * read from memory once per block of tokens. Two rows by four tokens per pass (eight
 * accumulators): each step loads 2 + 4 vectors for 8 multiply-adds, where one row by four
 * tokens loaded 5 for 4; with an odd k the last row pairs with itself.
 *
 *   for (i = 0; i < k; i += 2) {
 *     r0 = base + idx[i]*rstride; r1 = i + 1 < k ? base + idx[i+1]*rstride : r0
 *     for (t = 0; t + 4 <= ntok; t += 4) {           // tokens t..t+3: x0..x3
 *       v a00..a03, a10..a13 = 0
 *       for (j = 0; j < n; j += 4) {
 *         v w0 = r0[j..], w1 = r1[j..]
 *         for each token u < 4: { v xv = x_u[j..]; a0u += w0*xv; a1u += w1*xv }
 *       }
 *       out[(t+u)*ostride + i] = hsum(a0u); out[(t+u)*ostride + i+1] = hsum(a1u)   (u < 4)
 *     }
 *     for (; t < ntok; t++) the same for one token
 *   }
 */
function rowsDot(): FuncDef {
  const [out, ostride, x, n, ntok, base, idx, k, rstride] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [nb, os, end, r0, r1, o, o1, xb, t, ntok4, j] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  const xs = [xb, 20, 21, 22]; // the four tokens' x rows
  const [w0, w1] = [23, 24];
  const A0 = [25, 26, 27, 28], A1 = [29, 30, 31, 32]; // row 0's and row 1's accumulators, per token
  const xvs = [33, 34, 35, 36];
  /** out[o + u*ostride] = hsum(A0[u]), out[o1 + u*ostride] = hsum(A1[u]) for u < tokens. */
  const stores = (tokens: number) => Array.from({ length: tokens }, (_, u) => [
    ...get(o), ...(u ? [...get(os), ...i32(u), ...op.mul, ...add] : []), ...hsum(A0[u]!), ...op.f32Store(),
    ...get(o1), ...(u ? [...get(os), ...i32(u), ...op.mul, ...add] : []), ...hsum(A1[u]!), ...op.f32Store(),
  ]).flat();
  /** The pass over j for `tokens` tokens (4 or 1) starting at xb. */
  const pass = (tokens: number) => [
    ...[...A0.slice(0, tokens), ...A1.slice(0, tokens)].flatMap((a) => [...op.v128Zero, ...set(a)]),
    ...i32(0), ...set(j),
    ...whileNot([...get(j), ...get(nb), ...geU], [
      ...get(r0), ...get(j), ...add, ...op.v128Load(), ...set(w0),
      ...get(r1), ...get(j), ...add, ...op.v128Load(), ...set(w1),
      ...Array.from({ length: tokens }, (_, u) => [
        ...get(xs[u]!), ...get(j), ...add, ...op.v128Load(), ...set(xvs[u]!),
        ...get(A0[u]!), ...get(w0), ...get(xvs[u]!), ...op.f32x4Mul, ...op.f32x4Add, ...set(A0[u]!),
        ...get(A1[u]!), ...get(w1), ...get(xvs[u]!), ...op.f32x4Mul, ...op.f32x4Add, ...set(A1[u]!),
      ]).flat(),
      ...addTo(j, j, i32(16)),
    ]),
    ...stores(tokens),
  ];
  return {
    name: "rows_dot",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [...new Array<ValType>(14).fill(I32), ...new Array<ValType>(14).fill(V128)],
    body: [
      ...get(n), ...i32(2), ...shl, ...set(nb),
      ...get(ostride), ...i32(2), ...shl, ...set(os),
      ...get(ntok), ...i32(-4), ...op.and, ...set(ntok4),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...get(base), ...get(idx), ...op.i32Load(), ...get(rstride), ...op.mul, ...add, ...set(r0),
        // the next row, or this one again when it is the last (then o1 = o rewrites the same value)
        ...get(base), ...get(idx), ...op.i32Load(4), ...get(rstride), ...op.mul, ...add,
        ...get(r0),
        ...get(idx), ...i32(4), ...add, ...get(end), ...op.ltU, ...op.select, ...set(r1),
        ...get(out), ...set(o),
        ...get(out), ...i32(4), ...add, ...get(out),
        ...get(idx), ...i32(4), ...add, ...get(end), ...op.ltU, ...op.select, ...set(o1),
        ...get(x), ...set(xb), ...i32(0), ...set(t),
        ...whileNot([...get(t), ...get(ntok4), ...geU], [
          ...addTo(xs[1]!, xb, get(nb)), ...addTo(xs[2]!, xs[1]!, get(nb)), ...addTo(xs[3]!, xs[2]!, get(nb)),
          ...pass(4),
          ...addTo(o, o, [...get(os), ...i32(2), ...shl]), ...addTo(o1, o1, [...get(os), ...i32(2), ...shl]),
          ...addTo(xb, xs[3]!, get(nb)), ...addTo(t, t, i32(4)),
        ]),
        ...whileNot([...get(t), ...get(ntok), ...geU], [
          ...pass(1),
          ...addTo(o, o, get(os)), ...addTo(o1, o1, get(os)), ...addTo(xb, xb, get(nb)), ...addTo(t, t, i32(1)),
        ]),
        ...addTo(out, out, i32(8)), ...addTo(idx, idx, i32(8)),
      ]),
    ],
  };
}

/**
 * accum_tokens(out, a, astride, ntok, base, idx, k, dim): for each token t < ntok,
 * out[t*dim ..] = sum_i a[t*astride + i] * (down column of slot idx[i]): the batched
 * down projection, four W_down columns per pass, each read once per block of tokens.
 *
 *   out[0..ntok*dim) = 0
 *   for (i = 0; i + 4 <= k; i += 4) {
 *     d0..d3 = down columns of slots idx[i..i+4)
 *     for (t = 0; t < ntok; t++) {
 *       v s0..s3 = splat(a[t*astride + i]) .. splat(a[t*astride + i+3])
 *       for (j = 0; j < dim; j += 4) out[t*dim + j..] += (s0*d0[j..] + s1*d1[j..]) + (s2*d2[j..] + s3*d3[j..])
 *     }
 *   }
 *   for (; i < k; i++) the same with one column
 */
function accumTokens(): FuncDef {
  const [out, a, astride, ntok, base, idx, k, dim] = [0, 1, 2, 3, 4, 5, 6, 7];
  const [rb, stride, end, end4, d0, d1, d2, d3, j, t, o, ap, as, total, s0, s1, s2, s3] =
    [8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
  const col = (dst: number, off: number) => [...get(base), ...get(idx), ...op.i32Load(off), ...get(stride), ...op.mul, ...add, ...set(dst)];
  const coef = (dst: number, off: number) => [...get(ap), ...op.f32Load(off), ...op.f32x4Splat, ...set(dst)];
  const term = (sv: number, d: number) => [...get(sv), ...get(d), ...get(j), ...add, ...op.v128Load(), ...op.f32x4Mul];
  return {
    name: "accum_tokens",
    params: [I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128],
    body: [
      ...get(dim), ...i32(2), ...shl, ...set(rb),
      ...get(rb), ...i32(3), ...op.mul, ...set(stride),
      ...get(base), ...get(rb), ...i32(1), ...shl, ...add, ...set(base),
      ...get(astride), ...i32(2), ...shl, ...set(as),
      ...get(rb), ...get(ntok), ...op.mul, ...set(total),
      ...zero(out, total, j),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...get(idx), ...get(k), ...i32(-4), ...op.and, ...i32(2), ...shl, ...add, ...set(end4),
      ...whileNot([...get(idx), ...get(end4), ...geU], [
        ...col(d0, 0), ...col(d1, 4), ...col(d2, 8), ...col(d3, 12),
        ...get(out), ...set(o), ...get(a), ...set(ap), ...i32(0), ...set(t),
        ...whileNot([...get(t), ...get(ntok), ...geU], [
          ...coef(s0, 0), ...coef(s1, 4), ...coef(s2, 8), ...coef(s3, 12),
          ...i32(0), ...set(j),
          ...whileNot([...get(j), ...get(rb), ...geU], [
            ...get(o), ...get(j), ...add,
            ...get(o), ...get(j), ...add, ...op.v128Load(),
            ...term(s0, d0), ...term(s1, d1), ...op.f32x4Add, ...term(s2, d2), ...term(s3, d3), ...op.f32x4Add, ...op.f32x4Add,
            ...op.f32x4Add, ...op.v128Store(),
            ...addTo(j, j, i32(16)),
          ]),
          ...addTo(o, o, get(rb)), ...addTo(ap, ap, get(as)), ...addTo(t, t, i32(1)),
        ]),
        ...addTo(a, a, i32(16)), ...addTo(idx, idx, i32(16)),
      ]),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...col(d0, 0),
        ...get(out), ...set(o), ...get(a), ...set(ap), ...i32(0), ...set(t),
        ...whileNot([...get(t), ...get(ntok), ...geU], [
          ...coef(s0, 0), ...i32(0), ...set(j),
          ...whileNot([...get(j), ...get(rb), ...geU], [...axpy(o, s0, d0, j), ...addTo(j, j, i32(16))]),
          ...addTo(o, o, get(rb)), ...addTo(ap, ap, get(as)), ...addTo(t, t, i32(1)),
        ]),
        ...addTo(a, a, i32(4)), ...addTo(idx, idx, i32(4)),
      ]),
    ],
  };
}

/**
 * attn_scores(att, q, k, stride, hs, n, scale): att[t] = scale * dot(q, k + t*stride) for t < n (stride in bytes).
 *
 *   for (t = 0; t < n; t++) { v acc = 0; for (j = 0; j < hs; j += 4) acc += q[j..] * k_t[j..]; att[t] = scale * hsum(acc) }
 */
function attnScores(): FuncDef {
  const [att, q, k, stride, hs, n, scale] = [0, 1, 2, 3, 4, 5, 6];
  const [hb, end, j, acc] = [7, 8, 9, 10];
  return {
    name: "attn_scores",
    params: [I32, I32, I32, I32, I32, I32, F32],
    locals: [I32, I32, I32, V128],
    body: [
      ...get(hs), ...i32(2), ...shl, ...set(hb),
      ...get(att), ...get(n), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(att), ...get(end), ...geU], [
        ...op.v128Zero, ...set(acc), ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(hb), ...geU], [...fma(acc, q, k, j, 0), ...addTo(j, j, i32(16))]),
        ...get(att), ...get(scale), ...hsum(acc), ...op.f32Mul, ...op.f32Store(),
        ...addTo(att, att, i32(4)),
        ...addTo(k, k, get(stride)),
      ]),
    ],
  };
}

/**
 * attn_mix(out, att, v, stride, hs, n): out[0..hs) = sum_t att[t] * v[t*stride ..] (stride in bytes).
 *
 *   out[0..hs) = 0
 *   for (t = 0; t < n; t++) { v s = splat(att[t]); for (j = 0; j < hs; j += 4) out[j..] += s * v_t[j..] }
 */
function attnMix(): FuncDef {
  const [out, att, v, stride, hs, n] = [0, 1, 2, 3, 4, 5];
  const [hb, end, j, av] = [6, 7, 8, 9];
  return {
    name: "attn_mix",
    params: [I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, V128],
    body: [
      ...get(hs), ...i32(2), ...shl, ...set(hb),
      ...zero(out, hb, j),
      ...get(att), ...get(n), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(att), ...get(end), ...geU], [
        ...get(att), ...op.f32Load(), ...op.f32x4Splat, ...set(av),
        ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(hb), ...geU], [...axpy(out, av, v, j), ...addTo(j, j, i32(16))]),
        ...addTo(att, att, i32(4)),
        ...addTo(v, v, get(stride)),
      ]),
    ],
  };
}

/**
 * The loop both *_heads kernels share: for each cache row t < n (local `row`, moved on by
 * `stride` bytes) and each head h < heads, local `hp` = row + offs[h] (that head's key or value)
 * and local `ah` = att + h*astride (its score of row t), then `perHead`; `rowStart` runs before
 * each row's heads. att moves on by one score a row. Locals end, oend, o (i32) are scratch; as =
 * astride in bytes.
 *
 *   for (t = 0; t < n; t++, row += stride) { rowStart; for (h = 0; h < heads; h++) { hp = row + offs[h]; perHead } }
 */
const rowsByHead = (l: { att: number; n: number; row: number; stride: number; heads: number; offs: number; as: number;
  end: number; oend: number; o: number; hp: number; ah: number }, rowStart: number[], perHead: number[]) => [
  ...get(l.att), ...get(l.n), ...i32(2), ...shl, ...add, ...set(l.end),
  ...get(l.offs), ...get(l.heads), ...i32(2), ...shl, ...add, ...set(l.oend),
  ...whileNot([...get(l.att), ...get(l.end), ...geU], [
    ...get(l.offs), ...set(l.o), ...get(l.att), ...set(l.ah), ...rowStart,
    ...whileNot([...get(l.o), ...get(l.oend), ...geU], [
      ...get(l.row), ...get(l.o), ...op.i32Load(), ...add, ...set(l.hp),
      ...perHead,
      ...addTo(l.o, l.o, i32(4)), ...addTo(l.ah, l.ah, get(l.as)),
    ]),
    ...addTo(l.att, l.att, i32(4)),
    ...addTo(l.row, l.row, get(l.stride)),
  ]),
];

/**
 * attn_scores_heads(att, astride, q, k, stride, hs, n, scale, heads, offs): every head's
 * scores at once, att[h*astride + t] = scale * dot(q_h, k_t + offs[h]) for t < n, h < heads
 * (q_h = q + h*hs floats; offs[h] the byte offset of head h's key inside a cache row, so
 * grouped-query heads share one). Position-major: each cache row (all heads' keys) is read
 * once, in order, so the whole layer's keys are one sequential stream; the per-head
 * kernel above reads a head's few hundred bytes of every row and skips the rest.
 *
 *   for (t = 0; t < n; t++) for (h = 0; h < heads; h++) {
 *     v acc = 0; for (j = 0; j < hs; j += 4) acc += q_h[j..] * (k_t + offs[h])[j..]
 *     att[h*astride + t] = scale * hsum(acc)
 *   }
 */
function attnScoresHeads(): FuncDef {
  const [att, astride, q, k, stride, hs, n, scale, heads, offs] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const [hb, as, end, oend, o, qh, kh, ah, j, acc] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  return {
    name: "attn_scores_heads",
    params: [I32, I32, I32, I32, I32, I32, I32, F32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, V128],
    body: [
      ...get(hs), ...i32(2), ...shl, ...set(hb),
      ...get(astride), ...i32(2), ...shl, ...set(as),
      ...rowsByHead({ att, n, row: k, stride, heads, offs, as, end, oend, o, hp: kh, ah }, [...get(q), ...set(qh)], [
        ...op.v128Zero, ...set(acc), ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(hb), ...geU], [...fma(acc, qh, kh, j, 0), ...addTo(j, j, i32(16))]),
        ...get(ah), ...get(scale), ...hsum(acc), ...op.f32Mul, ...op.f32Store(),
        ...addTo(qh, qh, get(hb)),
      ]),
    ],
  };
}

/**
 * attn_mix_heads(out, att, astride, v, stride, hs, n, heads, offs): every head's output at
 * once, out_h = sum_t att[h*astride + t] * (v_t + offs[h]) for h < heads (out_h = out + h*hs
 * floats), reading each value-cache row once, in order (see attn_scores_heads).
 *
 *   out[0..heads*hs) = 0
 *   for (t = 0; t < n; t++) for (h = 0; h < heads; h++) {
 *     v s = splat(att[h*astride + t]); for (j = 0; j < hs; j += 4) out_h[j..] += s * (v_t + offs[h])[j..]
 *   }
 */
function attnMixHeads(): FuncDef {
  const [out, att, astride, v, stride, hs, n, heads, offs] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [hb, as, total, end, oend, o, oh, vh, ah, j, sv] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19];
  return {
    name: "attn_mix_heads",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, V128],
    body: [
      ...get(hs), ...i32(2), ...shl, ...set(hb),
      ...get(astride), ...i32(2), ...shl, ...set(as),
      ...get(hb), ...get(heads), ...op.mul, ...set(total),
      ...zero(out, total, j),
      ...rowsByHead({ att, n, row: v, stride, heads, offs, as, end, oend, o, hp: vh, ah }, [...get(out), ...set(oh)], [
        ...get(ah), ...op.f32Load(), ...op.f32x4Splat, ...set(sv),
        ...i32(0), ...set(j),
        ...whileNot([...get(j), ...get(hb), ...geU], [...axpy(oh, sv, vh, j), ...addTo(j, j, i32(16))]),
        ...addTo(oh, oh, get(hb)),
      ]),
    ],
  };
}

/** The kernels module's bytes (deterministic: the committed kernels.wasm is exactly this). */
export function kernelsWasmBytes(opts: { sharedMemory?: boolean } = {}): Uint8Array {
  return encodeModule([matvec(), accumRows(), attnScores(), attnMix(), bundleDots(), bundleAccum(), rowsDot(), accumTokens(), attnScoresHeads(), attnMixHeads(), ...q8Kernels()], opts);
}

export interface KernelExports extends Q8KernelExports {
  matvec(out: number, x: number, w: number, n: number, d: number): void;
  accum_rows(out: number, a: number, w: number, k: number, dim: number): void;
  attn_scores(att: number, q: number, k: number, stride: number, hs: number, n: number, scale: number): void;
  attn_scores_heads(att: number, astride: number, q: number, k: number, stride: number, hs: number, n: number, scale: number, heads: number, offs: number): void;
  attn_mix_heads(out: number, att: number, astride: number, v: number, stride: number, hs: number, n: number, heads: number, offs: number): void;
  attn_mix(out: number, att: number, v: number, stride: number, hs: number, n: number): void;
  bundle_dots(h1: number, h2: number, x: number, base: number, idx: number, k: number, dim: number): void;
  bundle_accum(out: number, a: number, base: number, idx: number, k: number, dim: number): void;
  rows_dot(out: number, ostride: number, x: number, n: number, ntok: number, base: number, idx: number, k: number, rstride: number): void;
  accum_tokens(out: number, a: number, astride: number, ntok: number, base: number, idx: number, k: number, dim: number): void;
}
