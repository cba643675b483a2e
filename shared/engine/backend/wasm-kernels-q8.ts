// WASM SIMD integer kernels for Q8_0 weights (../../model/q8.ts), the fast versions of
// ../q8-kernels.ts. Weights are int8 with one f32 scale per block of 32; the input vector
// arrives quantized the same way but widened to int16 (x16), so each step is
//   i32x4.dot_i16x8_s(v128.load8x8_s(weights), v128.load(x16))
// (8 multiply-adds), four steps per block, then one f32 multiply by the two block scales.
// These live beside the fp32 kernels in the same module (wasm-kernels.ts lists them).
import { I32, op, uleb, V128, whileNot, type FuncDef } from "./wasm-encoder.ts";

const { get, set, i32, add, mul, shl, geU } = op;
const simd = (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm];
/** Loads 8 int8 at (stack address + offset), sign-extended to an i16x8. */
const load8x8s = (offset: number) => simd(0x01, 3, ...uleb(offset));
const dotI16x8 = simd(0xba);
const i32x4Add = simd(0xae);
const f32x4FromI32x4 = simd(0xfa);
const i32x4FromI16Low = simd(0xa7);
const i32x4FromI16High = simd(0xa8);

const addTo = (dst: number, a: number, b: number[]) => [...get(a), ...b, ...add, ...set(dst)];
const hsum = (v: number) => [
  ...get(v), ...op.f32x4Lane(0), ...get(v), ...op.f32x4Lane(1), ...op.f32Add,
  ...get(v), ...op.f32x4Lane(2), ...get(v), ...op.f32x4Lane(3), ...op.f32Add, ...op.f32Add,
];

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
 * q8_accum(out, a, qbase, dbase, idx, k, dim, qstride, dstride): out[0..dim) = sum_i a[i] * column i,
 * column i the dim int8s at qbase + idx[i]*qstride with scales at dbase + idx[i]*dstride (an FFN
 * bundle's down column). Per block of 32: one splat of a[i] * scale, the int8s widened to f32.
 * Two columns per pass, so `out` is loaded and stored once per two.
 */
function accum(): FuncDef {
  const [out, a, qbase, dbase, idx, k, dim, qstride, dstride] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [end, end2, qa, da, qb, db, o, oend, sa, sb, wa, wb] = [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20];
  const col = (q: number, d: number, off: number) => [
    ...get(qbase), ...get(idx), ...op.i32Load(off), ...get(qstride), ...mul, ...add, ...set(q),
    ...get(dbase), ...get(idx), ...op.i32Load(off), ...get(dstride), ...mul, ...add, ...set(d),
  ];
  const coef = (s: number, d: number, off: number) => [...get(a), ...op.f32Load(off), ...get(d), ...op.f32Load(), ...op.f32Mul, ...op.f32x4Splat, ...set(s)];
  /** f32x4 of int8s at q + off (half 0: lanes 0..3 of the 8 loaded, 1: lanes 4..7), times splat s. */
  const term = (w: number, half: number, s: number) => [...get(w), ...(half ? i32x4FromI16High : i32x4FromI16Low), ...f32x4FromI32x4, ...get(s), ...op.f32x4Mul];
  /** out[o + 4*off ..] += the column terms for the 8 values at int8 offset `off`; `two`: both columns. */
  const step = (off: number, two: boolean) => [
    ...get(qa), ...load8x8s(off), ...set(wa),
    ...(two ? [...get(qb), ...load8x8s(off), ...set(wb)] : []),
    ...[0, 1].flatMap((half) => [
      ...get(o),
      ...get(o), ...op.v128Load(off * 4 + half * 16),
      ...term(wa, half, sa), ...op.f32x4Add,
      ...(two ? [...term(wb, half, sb), ...op.f32x4Add] : []),
      ...op.v128Store(off * 4 + half * 16),
    ]),
  ];
  const pass = (two: boolean) => [
    ...get(out), ...set(o),
    ...whileNot([...get(o), ...get(oend), ...geU], [
      ...coef(sa, da, 0), ...(two ? coef(sb, db, 4) : []),
      ...step(0, two), ...step(8, two), ...step(16, two), ...step(24, two),
      ...addTo(qa, qa, i32(32)), ...addTo(da, da, i32(4)),
      ...(two ? [...addTo(qb, qb, i32(32)), ...addTo(db, db, i32(4))] : []),
      ...addTo(o, o, i32(128)),
    ]),
  ];
  return {
    name: "q8_accum",
    params: [I32, I32, I32, I32, I32, I32, I32, I32, I32],
    locals: [I32, I32, I32, I32, I32, I32, I32, I32, V128, V128, V128, V128],
    body: [
      ...get(out), ...get(dim), ...i32(2), ...shl, ...add, ...set(oend),
      ...get(out), ...set(o),
      ...whileNot([...get(o), ...get(oend), ...geU], [...get(o), ...op.v128Zero, ...op.v128Store(), ...addTo(o, o, i32(16))]),
      ...get(idx), ...get(k), ...i32(2), ...shl, ...add, ...set(end),
      ...get(idx), ...get(k), ...i32(-2), ...op.and, ...i32(2), ...shl, ...add, ...set(end2),
      ...whileNot([...get(idx), ...get(end2), ...geU], [
        ...col(qa, da, 0), ...col(qb, db, 4), ...pass(true),
        ...addTo(a, a, i32(8)), ...addTo(idx, idx, i32(8)),
      ]),
      ...whileNot([...get(idx), ...get(end), ...geU], [
        ...col(qa, da, 0), ...pass(false),
        ...addTo(a, a, i32(4)), ...addTo(idx, idx, i32(4)),
      ]),
    ],
  };
}

/** The Q8_0 kernels, appended to the kernels module by wasm-kernels.ts. */
export function q8Kernels(): FuncDef[] {
  return [dots2(), accum()];
}

export interface Q8KernelExports {
  q8_dots2(outA: number, outB: number, x16: number, xd: number, qbase: number, dbase: number, idx: number, k: number, n: number,
    qstride: number, dstride: number, qpair: number, dpair: number): void;
  q8_accum(out: number, a: number, qbase: number, dbase: number, idx: number, k: number, dim: number, qstride: number, dstride: number): void;
}
