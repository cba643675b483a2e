// WASM SIMD integer kernels for Q8_0 weights (../../model/q8.ts), the fast versions of
// ../q8-kernels.ts. Weights are int8 with one f32 scale per block of 32; the input vector
// arrives quantized the same way but widened to int16 (x16), so each step is
//   i32x4.dot_i16x8_s(v128.load8x8_s(weights), v128.load(x16))
// (8 multiply-adds), four steps per block, then one f32 multiply by the two block scales.
// These live beside the fp32 kernels in the same module (wasm-kernels.ts lists them).
import { addTo, F32, hsum, I32, op, uleb, V128, whileNot, type FuncDef } from "./wasm-encoder.ts";

const { get, set, i32, add, mul, shl, geU } = op;
const simd = (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm];
/** Loads 8 int8 at (stack address + offset), sign-extended to an i16x8. */
const load8x8s = (offset: number) => simd(0x01, 3, ...uleb(offset));
const dotI16x8 = simd(0xba);
const i32x4Add = simd(0xae);
const f32x4FromI32x4 = simd(0xfa);
const i32x4FromI16Low = simd(0xa7);
const i32x4FromI16High = simd(0xa8);
const shrU = [0x76];
const select = [0x1b];
const f32x4Abs = simd(0xe0);
const f32x4Max = simd(0xe9);
const f32x4Sub = simd(0xe5);
const f32x4Trunc = simd(0x69);
const f32x4Ge = simd(0x46);
const f32x4Le = simd(0x45);
const i32x4TruncSatF32x4 = simd(0xf8);
const i32x4Sub = simd(0xb1);
const i16x8NarrowI32x4 = simd(0x85);
/** i8x16.shuffle picking i32 lanes (0..3 of the first operand, 4..7 of the second). */
const shuffle32 = (...lanes: number[]) => simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
const f32Const = (v: number) => [0x43, ...new Uint8Array(Float32Array.of(v).buffer)];
const f32Max = [0x97];
/** if (i32 on the stack) { then } else { otherwise } */
const ifElse = (then: number[], otherwise: number[]) => [0x04, 0x40, ...then, 0x05, ...otherwise, 0x0b];
const f32Min = [0x96];
const f32Sub = [0x93];
const f32Neg = [0x8c];
const f32Nearest = [0x90];
const i32TruncF32 = [0xa8];
const f32FromBits = [0xbe];
const f32Div = [0x95];
const f32Ne = [0x5c];

/**
 * Runs `pass(R)` over the slot list idx[0..k) in groups of R (a power of two), then `pass(1)` for
 * the k % R left; each pass moves idx (and its outputs) past its slots. end, endR: i32 locals.
 */
const slotGroups = (R: number, idx: number, k: number, end: number, endR: number, pass: (r: number) => number[]) => [
  ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
  ...get(idx), ...get(k), ...i32(-R), ...op.and, ...i32(2), ...shl, ...add, ...set(endR),
  ...whileNot([...get(idx), ...get(endR), ...geU], pass(R)),
  ...whileNot([...get(idx), ...get(end), ...geU], pass(1)),
];
/** q[j] = qbase + idx[j]*qstride + qoff and d[j] = dbase + idx[j]*dstride + doff for j < r (the r slots' rows and scales). */
const slotPointers = (r: number, q: number[], d: number[], qbase: number, dbase: number, idx: number, qstride: number, dstride: number,
  qoff: number[] = [], doff: number[] = []) => Array.from({ length: r }, (_, j) => [
  ...get(qbase), ...get(idx), ...op.i32Load(4 * j), ...get(qstride), ...mul, ...add, ...(qoff.length ? [...qoff, ...add] : []), ...set(q[j]!),
  ...get(dbase), ...get(idx), ...op.i32Load(4 * j), ...get(dstride), ...mul, ...add, ...(doff.length ? [...doff, ...add] : []), ...set(d[j]!),
]).flat();
/** Zeroes the bytes from local o (moved) up to local oend, 16 at a time. */
const zeroTo = (o: number, oend: number) => whileNot([...get(o), ...get(oend), ...geU], [...get(o), ...op.v128Zero, ...op.v128Store(), ...addTo(o, o, i32(16))]);

/**
 * acc[j] (f32x4 partial sums, j < r) = the Q8_0 dots of the r rows at w[j] (scales at d[j]) with the
 * quantized x (x16, xd), every block of x in turn, x's four vectors loaded once for the r rows;
 * w[j] and d[j] end past their rows. Locals: xp, xdp (i32 scratch), xend (x16 + 2n), x[0..4) (v128).
 */
const rowsDots = (r: number, l: { x16: number; xd: number; xp: number; xdp: number; xend: number; w: number[]; d: number[]; x: number[]; acc: number[] }) => {
  const { x16, xd, xp, xdp, xend, w, d, x, acc } = l;
  const rows = Array.from({ length: r }, (_, j) => j);
  return [
      ...rows.flatMap((j) => [...op.v128Zero, ...set(acc[j]!)]),
      ...get(x16), ...set(xp), ...get(xd), ...set(xdp),
      ...whileNot([...get(xp), ...get(xend), ...geU], [
        ...[0, 1, 2, 3].flatMap((s) => [...get(xp), ...op.v128Load(s * 16), ...set(x[s]!)]),
        ...rows.flatMap((j) => [
          ...get(w[j]!), ...load8x8s(0), ...get(x[0]!), ...dotI16x8,
          ...get(w[j]!), ...load8x8s(8), ...get(x[1]!), ...dotI16x8, ...i32x4Add,
          ...get(w[j]!), ...load8x8s(16), ...get(x[2]!), ...dotI16x8, ...i32x4Add,
          ...get(w[j]!), ...load8x8s(24), ...get(x[3]!), ...dotI16x8, ...i32x4Add,
          ...f32x4FromI32x4,
          ...get(d[j]!), ...op.f32Load(), ...get(xdp), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat, ...op.f32x4Mul,
          ...get(acc[j]!), ...op.f32x4Add, ...set(acc[j]!),
          ...addTo(w[j]!, w[j]!, i32(32)), ...addTo(d[j]!, d[j]!, i32(4)),
        ]),
        ...addTo(xp, xp, i32(64)), ...addTo(xdp, xdp, i32(4)),
      ]),
  ];
};
/**
 * q8_quantize(x, n, x16, xd): x[0..n) (n a multiple of 32) quantized per block of 32 as
 * ../q8-kernels.ts quantizeActivations defines it, in f32 arithmetic: d = max|x| / 127,
 * q = round-half-away-from-zero(x * (1/d)) (0 where d = 0), stored widened to int16 at x16
 * and d at xd (one f32 per block). Rounding is exact: t = trunc(y), then +-1 where |y - t| >= 0.5.
 *
 *   for (b = 0; b < n/32; b++) {
 *     v m = max over the block's 8 vectors of |x[j..j+4)|;  d = max of m's lanes / 127
 *     inv = d != 0 ? 1/d : 0;  xd[b] = d
 *     for each pair of vectors: y = x[j..] * splat(inv), t = trunc(y), i = i32(t) + (y - t >= 0.5) - (y - t <= -0.5)
 *                              x16[j..j+8) = narrow_i16(i_0, i_1)
 *   }
 */
function quantize(): FuncDef {
  const [x, n, x16, xd] = [0, 1, 2, 3];
  const [end, dv, inv] = [4, 5, 6];
  const [m, sv] = [7, 8];
  const roundAway = (off: number) => [
    ...get(x), ...op.v128Load(off), ...get(sv), ...op.f32x4Mul, ...set(m), // y
    ...get(m), ...f32x4Trunc, ...i32x4TruncSatF32x4,
    ...get(m), ...get(m), ...f32x4Trunc, ...f32x4Sub, // frac = y - t (exact)
    ...set(m),
    ...get(m), ...f32Const(0.5), ...op.f32x4Splat, ...f32x4Ge, ...i32x4Sub, // masks are -1: subtracting adds 1
    ...get(m), ...f32Const(-0.5), ...op.f32x4Splat, ...f32x4Le, ...simd(0xae), // adding -1 subtracts 1
  ];
  return {
    name: "q8_quantize",
    params: [I32, I32, I32, I32],
    locals: [I32, F32, F32, V128, V128],
    body: [
      ...get(x), ...get(n), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(x), ...get(end), ...geU], [
        ...get(x), ...op.v128Load(0), ...f32x4Abs,
        ...[1, 2, 3, 4, 5, 6, 7].flatMap((v) => [...get(x), ...op.v128Load(16 * v), ...f32x4Abs, ...f32x4Max]),
        ...set(m),
        ...get(m), ...op.f32x4Lane(0), ...get(m), ...op.f32x4Lane(1), ...f32Max,
        ...get(m), ...op.f32x4Lane(2), ...get(m), ...op.f32x4Lane(3), ...f32Max, ...f32Max,
        ...f32Const(127), ...f32Div, ...set(dv),
        ...get(xd), ...get(dv), ...op.f32Store(),
        ...f32Const(1), ...get(dv), ...f32Div, ...f32Const(0), ...get(dv), ...f32Const(0), ...f32Ne, ...select, ...set(inv),
        ...get(inv), ...op.f32x4Splat, ...set(sv),
        ...[0, 1, 2, 3].flatMap((pair) => [
          ...get(x16), ...roundAway(32 * pair), ...roundAway(32 * pair + 16), ...i16x8NarrowI32x4, ...op.v128Store(16 * pair),
        ]),
        ...addTo(x, x, i32(128)), ...addTo(x16, x16, i32(64)), ...addTo(xd, xd, i32(4)),
      ]),
    ],
  };
}

/**
 * q8_dots2(outA, outB, x16, xd, qbase, dbase, idx, k, n, qstride, dstride, qpair, dpair):
 * for each listed row i < k, row A at qbase + idx[i]*qstride (int8s) with scales at
 * dbase + idx[i]*dstride, and row B `qpair` / `dpair` bytes further:
 * outA[i] = dot(A, x), outB[i] = dot(B, x), x given as n int16 (x16) and n/32 scales (xd).
 * Two rows per pass share each x load: an FFN bundle's gate and up rows, or a matrix's
 * two halves.
 */
function dots2(): FuncDef {
  const [outA, outB, x16, xd, qbase, dbase, idx, k, n, qstride, dstride, qpair, dpair] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [end, qa, da, qb, db, xp, xdp, xend, accA, accB, iA, iB, xv] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
  /** iA += dot(A[off..off+8), x), iB likewise, for the 8 values at int8 offset `off` of the block. */
  const step = (off: number) => [
    ...get(xp), ...op.v128Load(off * 2), ...set(xv),
    ...get(iA), ...get(qa), ...load8x8s(off), ...get(xv), ...dotI16x8, ...i32x4Add, ...set(iA),
    ...get(iB), ...get(qb), ...load8x8s(off), ...get(xv), ...dotI16x8, ...i32x4Add, ...set(iB),
  ];
  /** acc += f32(isum) * (weight scale * x scale) */
  const scaleInto = (acc: number, isum: number, dp: number) => [
    ...get(acc), ...get(isum), ...f32x4FromI32x4,
    ...get(dp), ...op.f32Load(), ...get(xdp), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat,
    ...op.f32x4Mul, ...op.f32x4Add, ...set(acc),
  ];
  return {
    name: "q8_dots2",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128],
    body: [
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...get(x16), ...get(n), ...i32(1), ...shl, ...add, ...set(xend),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...get(qbase), ...get(idx), ...op.i32Load(), ...get(qstride), ...mul, ...add, ...set(qa),
        ...get(dbase), ...get(idx), ...op.i32Load(), ...get(dstride), ...mul, ...add, ...set(da),
        ...addTo(qb, qa, get(qpair)), ...addTo(db, da, get(dpair)),
        ...op.v128Zero, ...set(accA), ...op.v128Zero, ...set(accB),
        ...get(x16), ...set(xp), ...get(xd), ...set(xdp),
        ...whileNot([...get(xp), ...get(xend), ...geU], [
          ...op.v128Zero, ...set(iA), ...op.v128Zero, ...set(iB),
          ...step(0), ...step(8), ...step(16), ...step(24),
          ...scaleInto(accA, iA, da), ...scaleInto(accB, iB, db),
          ...addTo(qa, qa, i32(32)), ...addTo(qb, qb, i32(32)), ...addTo(da, da, i32(4)), ...addTo(db, db, i32(4)),
          ...addTo(xp, xp, i32(64)), ...addTo(xdp, xdp, i32(4)),
        ]),
        ...get(outA), ...hsum(accA), ...op.f32Store(), ...get(outB), ...hsum(accB), ...op.f32Store(),
        ...addTo(outA, outA, i32(4)), ...addTo(outB, outB, i32(4)), ...addTo(idx, idx, i32(4)),
      ]),
    ],
  };
}

/**
 * q8_dots(outA, outB, x16, xd, qbase, dbase, idx, k, n, qstride, dstride, parts): for each listed
 * slot i < k and part p < parts (1 or 2), the row at qbase + idx[i]*qstride + p*n (int8s) with
 * scales at dbase + idx[i]*dstride + p*n/8: out_p[i] = dot(row, x), out_0 = outA, out_1 = outB.
 * Four slots in flight, one accumulator each, x loaded once for the four; for an FFN bundle
 * (parts 2: gate then up), each slot is read gate row then up row, one sequential piece.
 * Measured against q8_dots2 (gate and up paired, one slot at a time) on stories110M-shaped
 * bundles: dense 8.9 -> 11.1 GB/s, 30% kept 3.7 -> 6.3 GB/s; 6 or 8 in flight were no faster.
 *
 *   for (i = 0; i < k; i += 4)                  // then one slot at a time for k % 4
 *     for (p = 0; p < parts; p++) {
 *       w0..w3 = rows of slots idx[i..i+4), part p; v a0..a3 = 0
 *       for (b = 0; b < n/32; b++) {            // x0..x3: the block's 32 int16 of x
 *         for each r: a_r += f32(sum of dot_i16x8(load8x8_s(w_r + 8s), x_s), s < 4) * splat(dw_r[b] * xd[b])
 *       }
 *       out_p[i + r] = hsum(a_r)
 *     }
 */
function dots(): FuncDef {
  const R = 4;
  const [outA, outB, x16, xd, qbase, dbase, idx, k, n, qstride, dstride, parts] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const [end, endR, p, xp, xdp, xend, db, o] = [12, 13, 14, 15, 16, 17, 18, 19];
  const w = [20, 21, 22, 23], d = [24, 25, 26, 27];
  const x = [28, 29, 30, 31], acc = [32, 33, 34, 35];
  /** The r slots' rows, part p, through every block of x; then out_p[0..r) and the pointers past the r slots. */
  const slotsPass = (r: number) => {
    const rows = Array.from({ length: r }, (_, j) => j);
    return [
      ...i32(0), ...set(p),
      ...whileNot([...get(p), ...get(parts), ...geU], [
        ...slotPointers(r, w, d, qbase, dbase, idx, qstride, dstride, [...get(p), ...get(n), ...mul], [...get(p), ...get(db), ...mul]),
        ...rowsDots(r, { x16, xd, xp, xdp, xend, w, d, x, acc }),
        ...get(outB), ...get(outA), ...get(p), ...select, ...set(o), // o = p ? outB : outA
        ...rows.flatMap((j) => [...get(o), ...hsum(acc[j]!), ...op.f32Store(4 * j)]),
        ...addTo(p, p, i32(1)),
      ]),
      ...addTo(outA, outA, i32(4 * r)), ...addTo(outB, outB, i32(4 * r)), ...addTo(idx, idx, i32(4 * r)),
    ];
  };
  return {
    name: "q8_dots",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128],
    body: [
      ...get(n), ...i32(3), ...shrU, ...set(db), // scale bytes per row: n/32 floats
      ...get(x16), ...get(n), ...i32(1), ...shl, ...add, ...set(xend),
      ...slotGroups(R, idx, k, end, endR, slotsPass),
    ],
  };
}

/** exp(x) for an f32 on the stack (Cephes expf: 2^n times a degree-7 polynomial of x - n ln 2), x clamped to +-87. */
const expF32 = (t: number, nv: number) => [
  ...f32Const(-87), ...f32Max, ...f32Const(87), ...f32Min, ...set(t),
  ...get(t), ...f32Const(Math.LOG2E), ...op.f32Mul, ...f32Nearest, ...set(nv),
  ...get(t), ...get(nv), ...f32Const(0.693359375), ...op.f32Mul, ...f32Sub, ...get(nv), ...f32Const(-2.12194440e-4), ...op.f32Mul, ...f32Sub, ...set(t),
  ...f32Const(1.9875691500e-4), ...get(t), ...op.f32Mul, ...f32Const(1.3981999507e-3), ...op.f32Add,
  ...get(t), ...op.f32Mul, ...f32Const(8.3334519073e-3), ...op.f32Add,
  ...get(t), ...op.f32Mul, ...f32Const(4.1665795894e-2), ...op.f32Add,
  ...get(t), ...op.f32Mul, ...f32Const(1.6666665459e-1), ...op.f32Add,
  ...get(t), ...op.f32Mul, ...f32Const(5.0000001201e-1), ...op.f32Add,
  ...get(t), ...op.f32Mul, ...get(t), ...op.f32Mul, ...get(t), ...op.f32Add, ...f32Const(1), ...op.f32Add,
  ...get(nv), ...i32TruncF32, ...i32(127), ...add, ...i32(23), ...shl, ...f32FromBits, ...op.f32Mul,
];

/**
 * q8_ffn(out, h, x16, xd, qbase, dbase, idx, k, dim): the whole SwiGLU FFN of one token over the
 * listed slots of Q8_0 bundles (qbase + slot*3*dim int8s: gate row, up row, down column; their
 * scales at dbase + slot*3*dim/8), read in one sequential sweep per bundle: out[0..dim) =
 * sum_i h[i] * down_i with h[i] = SiLU(gate_i . x) * (up_i . x) (also written to h; x quantized).
 * Reading gate and up, then the down column right after them, leaves no gap in each bundle's
 * stream (reading gate|up alone and skipping down ran at half the speed of a contiguous matrix).
 * Four slots in flight; SiLU's exp is Cephes' expf polynomial (about 1 ulp). Measured against
 * q8_dots + SiLU + q8_accum on stories110M-shaped bundles, 12 layers: 30% kept 5.3 -> 6.2 GB/s;
 * dense no faster (8.0 against 8.3-9.2: the down columns' widening bounds it), so dense tokens
 * keep the separate kernels.
 *
 *   out[0..dim) = 0
 *   for (i = 0; i < k; i += 4) {                // then one slot at a time for k % 4
 *     g_r = q8 dot(gate_r, x); u_r = q8 dot(up_r, x)       // as q8_dots, four slots sharing each x load
 *     h[i+r] = g_r / (1 + exp(-g_r)) * u_r
 *     out[..] += sum over r of h[i+r] * down_r[..]          // as q8_accum
 *   }
 */
function ffn(): FuncDef {
  const R = 4;
  const [out, h, x16, xd, qbase, dbase, idx, k, dim] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [end, endR, p, xp, xdp, xend, o, oend] = [9, 10, 11, 12, 13, 14, 15, 16];
  const w = [17, 18, 19, 20], d = [21, 22, 23, 24];
  const [qstride, dstride] = [25, 26];
  const [g, et, en] = [27, 28, 29];
  const x = [30, 31, 32, 33], acc = [34, 35, 36, 37], wv = x; // the down pass reuses the x registers for its widened int8s
  const sv = acc; // and the accumulators for its coefficients
  const slotsPass = (r: number) => {
    const rows = Array.from({ length: r }, (_, j) => j);
    const dotsPart = rowsDots(r, { x16, xd, xp, xdp, xend, w, d, x, acc });
    /** The down pass: out += sum over the r columns (at w_j, scales d_j) of h[j] * column. */
    const term = (j: number, half: number) => [...get(wv[j]!), ...(half ? i32x4FromI16High : i32x4FromI16Low), ...f32x4FromI32x4, ...get(sv[j]!), ...op.f32x4Mul];
    const step = (off: number) => [
      ...rows.flatMap((j) => [...get(w[j]!), ...load8x8s(off), ...set(wv[j]!)]),
      ...[0, 1].flatMap((half) => [
        ...get(o), ...get(o), ...op.v128Load(off * 4 + half * 16),
        ...rows.flatMap((j) => [...term(j, half), ...op.f32x4Add]),
        ...op.v128Store(off * 4 + half * 16),
      ]),
    ];
    return [
      ...slotPointers(r, w, d, qbase, dbase, idx, qstride, dstride),
      // Part 0 (gate rows): h[i+j] = g; part 1 (up rows, the pointers running on from gate): h = silu(g) * u.
      // One copy of the dots loop iterated twice: two copies in one function made V8's code slower.
      ...i32(0), ...set(p),
      ...whileNot([...get(p), ...i32(2), ...geU], [
        ...dotsPart,
        ...get(p), ...ifElse(
          rows.flatMap((j) => [
            ...get(h),
            ...get(h), ...op.f32Load(4 * j), ...set(g),
            ...get(g), ...get(g), ...f32Neg, ...expF32(et, en), ...f32Const(1), ...op.f32Add, ...f32Div,
            ...hsum(acc[j]!), ...op.f32Mul, ...op.f32Store(4 * j),
          ]),
          rows.flatMap((j) => [...get(h), ...hsum(acc[j]!), ...op.f32Store(4 * j)]),
        ),
        ...addTo(p, p, i32(1)),
      ]),
      // down columns (the pointers ran on from up into down)
      ...get(out), ...set(o),
      ...whileNot([...get(o), ...get(oend), ...geU], [
        ...rows.flatMap((j) => [...get(h), ...op.f32Load(4 * j), ...get(d[j]!), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat, ...set(sv[j]!)]),
        ...step(0), ...step(8), ...step(16), ...step(24),
        ...rows.flatMap((j) => [...addTo(w[j]!, w[j]!, i32(32)), ...addTo(d[j]!, d[j]!, i32(4))]),
        ...addTo(o, o, i32(128)),
      ]),
      ...addTo(h, h, i32(4 * r)), ...addTo(idx, idx, i32(4 * r)),
    ];
  };
  return {
    name: "q8_ffn",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [...Array<typeof I32>(18).fill(I32), F32, F32, F32, ...Array<typeof V128>(8).fill(V128)],
    body: [
      ...get(dim), ...i32(3), ...mul, ...set(qstride),
      ...get(qstride), ...i32(3), ...shrU, ...set(dstride), // 3*dim/32 scales of 4 bytes
      ...get(x16), ...get(dim), ...i32(1), ...shl, ...add, ...set(xend),
      ...get(out), ...get(dim), ...i32(2), ...shl, ...add, ...set(oend),
      ...get(out), ...set(o), ...zeroTo(o, oend),
      ...slotGroups(R, idx, k, end, endR, slotsPass),
    ],
  };
}

/**
 * q8_accum(out, a, astride, ntok, qbase, dbase, idx, k, dim, qstride, dstride): for each token
 * t < ntok, out[t*dim ..+dim) = sum_i a[t*astride + i] * column i, column i the dim int8s at
 * qbase + idx[i]*qstride with scales at dbase + idx[i]*dstride (an FFN bundle's down column).
 * Per block of 32: one splat of a * scale, the int8s widened to f32. Four columns per pass
 * (four pieces in flight; `out` loaded and stored once per four), then one at a time for
 * k % 4; a batch (prefill) runs every token over the same four columns while they sit in L1.
 * Measured on stories110M-shaped bundles against two columns per pass: dense about the same
 * (7.4 GB/s: the int8 -> f32 widening bounds it), 30% kept 4.1 -> 5.5 GB/s.
 *
 *   out[0..ntok*dim) = 0
 *   for (i = 0; i < k; i += 4)                  // columns c0..c3 of slots idx[i..i+4)
 *     for (t = 0; t < ntok; t++)
 *       for (b = 0; b < dim/32; b++) {
 *         v s_r = splat(a[t*astride + i+r] * dc_r[b])
 *         for (j = 32b; j < 32b + 32; j += 4) out[t*dim + j..] += sum over r of f32(c_r[j..j+4)) * s_r
 *       }
 */
function accum(): FuncDef {
  const R = 4;
  const [out, a, astride, ntok, qbase, dbase, idx, k, dim, qstride, dstride] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  const [end, endR, o, oend, t, ot, at, q0, d0] = [11, 12, 13, 14, 15, 16, 17, 18, 19];
  const q = [20, 21, 22, 23], d = [24, 25, 26, 27];
  const s = [28, 29, 30, 31], wv = [32, 33, 34, 35];
  /** f32x4 of int8s (half 0: lanes 0..3 of the 8 loaded in wv, 1: lanes 4..7), times splat s. */
  const term = (w: number, half: number, sv: number) => [...get(w), ...(half ? i32x4FromI16High : i32x4FromI16Low), ...f32x4FromI32x4, ...get(sv), ...op.f32x4Mul];
  const colsPass = (r: number) => {
    const cols = Array.from({ length: r }, (_, j) => j);
    /** out[o + 4*off ..] += the r columns' terms for the 8 values at int8 offset `off` of the block. */
    const step = (off: number) => [
      ...cols.flatMap((j) => [...get(q[j]!), ...load8x8s(off), ...set(wv[j]!)]),
      ...[0, 1].flatMap((half) => [
        ...get(o), ...get(o), ...op.v128Load(off * 4 + half * 16),
        ...cols.flatMap((j) => [...term(wv[j]!, half, s[j]!), ...op.f32x4Add]),
        ...op.v128Store(off * 4 + half * 16),
      ]),
    ];
    return [
      ...get(out), ...set(ot), ...get(a), ...set(at), ...i32(0), ...set(t),
      ...whileNot([...get(t), ...get(ntok), ...geU], [
        ...slotPointers(r, q, d, qbase, dbase, idx, qstride, dstride),
        ...get(ot), ...set(o), ...addTo(oend, ot, [...get(dim), ...i32(2), ...shl]),
        ...whileNot([...get(o), ...get(oend), ...geU], [
          ...cols.flatMap((j) => [...get(at), ...op.f32Load(4 * j), ...get(d[j]!), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat, ...set(s[j]!)]),
          ...step(0), ...step(8), ...step(16), ...step(24),
          ...cols.flatMap((j) => [...addTo(q[j]!, q[j]!, i32(32)), ...addTo(d[j]!, d[j]!, i32(4))]),
          ...addTo(o, o, i32(128)),
        ]),
        ...get(oend), ...set(ot), ...addTo(at, at, [...get(astride), ...i32(2), ...shl]), ...addTo(t, t, i32(1)),
      ]),
      ...addTo(a, a, i32(4 * r)), ...addTo(idx, idx, i32(4 * r)),
    ];
  };
  return {
    name: "q8_accum",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128, V128, V128, V128, V128],
    body: [
      ...get(out), ...get(dim), ...get(ntok), ...mul, ...i32(2), ...shl, ...add, ...set(oend),
      ...get(out), ...set(o), ...zeroTo(o, oend),
      ...slotGroups(R, idx, k, end, endR, colsPass),
    ],
  };
}

/**
 * q8_rows_tokens(out, ostride, x16, xd, xdT, n, ntok, qbase, dbase, idx, k, qstride, dstride): the
 * batched (prefill) product. For each listed row i < k (n int8s at qbase + idx[i]*qstride, scales at
 * dbase + idx[i]*dstride) and token t < ntok (x_t quantized: n int16 at x16 + 2nt, n/32 scales at
 * xd + nt/8): out[t*ostride + i] = dot(row, x_t). Each block of the row is widened once and used
 * for four tokens, whose four integer sums are gathered into one vector (a transpose of adds) so
 * the scaling is one vector multiply for the four: xdT holds, per group of four tokens and per
 * block, their four x scales side by side. Leftover tokens (ntok % 4) one at a time.
 *
 *   for (i = 0; i < k; i++) {
 *     for (g = 0; g < ntok/4; g++) {             // tokens t = 4g .. 4g+3
 *       v acc = 0
 *       for (b = 0; b < n/32; b++) {
 *         w0..w3 = load8x8_s(row + 32b + 8s)
 *         s_j = sum_s dot_i16x8(w_s, x_{t+j}[32b + 8s ..])            // i32x4, one per token
 *         acc += f32([hsum s_0, hsum s_1, hsum s_2, hsum s_3]) * splat(dw[b]) * xdT[g][b]
 *       }
 *       out[(t+j)*ostride + i] = acc[j]
 *     }
 *     for (t = 4*(ntok/4); t < ntok; t++) out[t*ostride + i] = the same for one token, scaled by xd_t[b]
 *   }
 */
function rowsTokens(): FuncDef {
  const T = 4;
  const [out, ostride, x16, xd, xdT, n, ntok, qbase, dbase, idx, k, qstride, dstride] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const [end, row, drow, w, dw, t, ntokT, xb, xdb, wend, xs, ds, os, xtp] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26];
  const xp = [27, 28, 29, 30];
  const wv = [31, 32, 33, 34], sv = [35, 36, 37, 38], acc = 39;
  /** The integer sum of token j's block against w0..w3, left on the stack (i32x4). */
  const blockSum = (j: number) => [
    ...get(wv[0]!), ...get(xp[j]!), ...op.v128Load(0), ...dotI16x8,
    ...get(wv[1]!), ...get(xp[j]!), ...op.v128Load(16), ...dotI16x8, ...i32x4Add,
    ...get(wv[2]!), ...get(xp[j]!), ...op.v128Load(32), ...dotI16x8, ...i32x4Add,
    ...get(wv[3]!), ...get(xp[j]!), ...op.v128Load(48), ...dotI16x8, ...i32x4Add,
    ...addTo(xp[j]!, xp[j]!, i32(64)),
  ];
  const loadBlock = [...[0, 1, 2, 3].flatMap((s) => [...get(w), ...load8x8s(8 * s), ...set(wv[s]!)])];
  const startRow = [...get(row), ...set(w), ...get(drow), ...set(dw), ...op.v128Zero, ...set(acc)];
  const outAddr = (j: number) => [...get(out), ...get(t), ...i32(j), ...add, ...get(os), ...mul, ...add];
  const groupPass = [
    ...[0, 1, 2, 3].flatMap((j) => addTo(xp[j]!, xb, [...get(xs), ...i32(j), ...mul])),
    ...startRow,
    ...whileNot([...get(w), ...get(wend), ...geU], [
      ...loadBlock,
      ...[0, 1, 2, 3].flatMap((j) => [...blockSum(j), ...set(sv[j]!)]),
      // [a0+a2, b0+b2, a1+a3, b1+b3] and [c0+c2, d0+d2, c1+c3, d1+d3], then [sum a, sum b, sum c, sum d]
      ...get(sv[0]!), ...get(sv[1]!), ...shuffle32(0, 4, 1, 5), ...get(sv[0]!), ...get(sv[1]!), ...shuffle32(2, 6, 3, 7), ...i32x4Add, ...set(sv[0]!),
      ...get(sv[2]!), ...get(sv[3]!), ...shuffle32(0, 4, 1, 5), ...get(sv[2]!), ...get(sv[3]!), ...shuffle32(2, 6, 3, 7), ...i32x4Add, ...set(sv[2]!),
      ...get(acc),
      ...get(sv[0]!), ...get(sv[2]!), ...shuffle32(0, 1, 4, 5), ...get(sv[0]!), ...get(sv[2]!), ...shuffle32(2, 3, 6, 7), ...i32x4Add,
      ...f32x4FromI32x4,
      ...get(dw), ...op.f32Load(), ...op.f32x4Splat, ...get(xtp), ...op.v128Load(), ...op.f32x4Mul, ...op.f32x4Mul,
      ...op.f32x4Add, ...set(acc),
      ...addTo(w, w, i32(32)), ...addTo(dw, dw, i32(4)), ...addTo(xtp, xtp, i32(16)),
    ]),
    ...[0, 1, 2, 3].flatMap((j) => [...outAddr(j), ...get(acc), ...op.f32x4Lane(j), ...op.f32Store()]),
    ...addTo(t, t, i32(T)), ...addTo(xb, xb, [...get(xs), ...i32(T), ...mul]), ...addTo(xdb, xdb, [...get(ds), ...i32(T), ...mul]),
  ];
  const onePass = [
    ...get(xb), ...set(xp[0]!), ...get(xdb), ...set(xtp),
    ...startRow,
    ...whileNot([...get(w), ...get(wend), ...geU], [
      ...loadBlock,
      ...get(acc), ...blockSum(0), ...f32x4FromI32x4,
      ...get(dw), ...op.f32Load(), ...get(xtp), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat, ...op.f32x4Mul,
      ...op.f32x4Add, ...set(acc),
      ...addTo(w, w, i32(32)), ...addTo(dw, dw, i32(4)), ...addTo(xtp, xtp, i32(4)),
    ]),
    ...outAddr(0), ...hsum(acc), ...op.f32Store(),
    ...addTo(t, t, i32(1)), ...addTo(xb, xb, get(xs)), ...addTo(xdb, xdb, get(ds)),
  ];
  return {
    name: "q8_rows_tokens",
    params: Array<typeof I32>(13).fill(I32),
    locals: [...Array<typeof I32>(18).fill(I32), ...Array<typeof V128>(9).fill(V128)],
    body: [
      ...get(n), ...i32(1), ...shl, ...set(xs), // bytes of one token's x16
      ...get(n), ...i32(3), ...shrU, ...set(ds), // bytes of one token's scales
      ...get(ostride), ...i32(2), ...shl, ...set(os),
      ...get(ntok), ...i32(-T), ...op.and, ...set(ntokT),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...get(qbase), ...get(idx), ...op.i32Load(), ...get(qstride), ...mul, ...add, ...set(row),
        ...get(dbase), ...get(idx), ...op.i32Load(), ...get(dstride), ...mul, ...add, ...set(drow),
        ...addTo(wend, row, get(n)),
        ...i32(0), ...set(t), ...get(x16), ...set(xb), ...get(xd), ...set(xdb), ...get(xdT), ...set(xtp),
        ...whileNot([...get(t), ...get(ntokT), ...geU], groupPass),
        ...whileNot([...get(t), ...get(ntok), ...geU], onePass),
        ...addTo(out, out, i32(4)), ...addTo(idx, idx, i32(4)),
      ]),
    ],
  };
}

/** The Q8_0 kernels, appended to the kernels module by wasm-kernels.ts. */
export function q8Kernels(): FuncDef[] {
  return [quantize(), dots2(), dots(), ffn(), accum(), rowsTokens()];
}

export interface Q8KernelExports {
  q8_quantize(x: number, n: number, x16: number, xd: number): void;
  q8_dots2(outA: number, outB: number, x16: number, xd: number, qbase: number, dbase: number, idx: number, k: number, n: number,
    qstride: number, dstride: number, qpair: number, dpair: number): void;
  q8_dots(outA: number, outB: number, x16: number, xd: number, qbase: number, dbase: number, idx: number, k: number, n: number,
    qstride: number, dstride: number, parts: number): void;
  q8_ffn(out: number, h: number, x16: number, xd: number, qbase: number, dbase: number, idx: number, k: number, dim: number): void;
  q8_accum(out: number, a: number, astride: number, ntok: number, qbase: number, dbase: number, idx: number, k: number, dim: number,
    qstride: number, dstride: number): void;
  q8_rows_tokens(out: number, ostride: number, x16: number, xd: number, xdT: number, n: number, ntok: number, qbase: number, dbase: number, idx: number,
    k: number, qstride: number, dstride: number): void;
}
