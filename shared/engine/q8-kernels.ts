// Reference (scalar TypeScript) kernels for Q8_0 weights, the definition the WASM SIMD
// integer kernels (backend/wasm-kernels-q8.ts) are tested against. As in llama.cpp and
// llama2.c's runq.c, the input vector is quantized too, per block of 32 (f32 scale), so a
// block's dot product is an integer sum times the two scales:
//   dot(w row, x) ~= sum_b  dw[b] * dx[b] * sum_{j<32} qw[32b+j] * qx[32b+j].
// The FFN's down projection accumulates columns (neuron-major bundles): there the int8
// weights are scaled in floats, out += a_i * dw[b] * qw, and the activations stay fp32.
import { QK, type Q8Matrix } from "../model/q8.ts";
import type { CompactFfn } from "./compact-ffn.ts";
import type { FfnBundles } from "./ffn-bundles.ts";
import { silu } from "./kernels.ts";

/**
 * x[0..n) quantized per block of 32 into q (n values in -127..127) and d (n/32 f32 scales) at qo, dOff:
 * ggml's reference quantizer in f32 arithmetic, as the WASM kernel q8_quantize computes it bit for bit:
 * d = max|x| / 127, q = round-half-away-from-zero(x * (1/d)), q = 0 where d = 0.
 */
export function quantizeActivations(x: ArrayLike<number>, n: number, q: Int8Array | Int16Array, d: Float32Array, qo = 0, dOff = 0): void {
  const f = Math.fround;
  for (let b = 0; b < n / QK; b++) {
    let amax = 0;
    for (let j = b * QK; j < (b + 1) * QK; j++) amax = Math.max(amax, Math.abs(x[j]!));
    const scale = f(amax / 127);
    const inv = scale ? f(1 / scale) : 0;
    d[dOff + b] = scale;
    for (let j = b * QK; j < (b + 1) * QK; j++) {
      const y = f(x[j]! * inv);
      q[qo + j] = y < 0 ? -Math.round(-y) : Math.round(y);
    }
  }
}

/** Integer dot of n values (a multiple of 32): weights at q[qo..], scales d[dOff..]; input xq, xd. */
export function q8Dot(q: Int8Array, qo: number, d: Float32Array, dOff: number, xq: Int8Array, xd: Float32Array, n: number): number {
  let sum = 0;
  for (let b = 0; b < n / QK; b++) {
    let acc = 0;
    const o = qo + b * QK;
    for (let j = 0; j < QK; j++) acc += q[o + j]! * xq[b * QK + j]!;
    sum += d[dOff + b]! * xd[b]! * acc;
  }
  return sum;
}

/** out[0..rows) = W x for a Q8 matrix (x quantized first). */
export function q8Matvec(out: Float32Array, x: Float32Array, w: Q8Matrix): void {
  const n = w.cols;
  const xq = new Int8Array(n);
  const xd = new Float32Array(n / QK);
  quantizeActivations(x, n, xq, xd);
  for (let r = 0; r < w.rows; r++) out[r] = q8Dot(w.q, r * n, w.d, (r * n) / QK, xq, xd, n);
}

/** matvec for ntok tokens (prefill): x ntok rows of w.cols, out ntok rows of w.rows. */
export function q8Matmul(out: Float32Array, x: Float32Array, w: Q8Matrix, ntok: number): void {
  for (let t = 0; t < ntok; t++) q8Matvec(out.subarray(t * w.rows, (t + 1) * w.rows), x.subarray(t * w.cols, (t + 1) * w.cols), w);
}

/** The SwiGLU FFN over f's slots of Q8_0 bundles (compactFfn of kernels.ts in Q8). */
export function q8CompactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
  const { q, d } = f.bundles.q8;
  const xq = new Int8Array(dim);
  const xd = new Float32Array(dim / QK);
  quantizeActivations(x, dim, xq, xd);
  const k = f.slots.length;
  for (let i = 0; i < k; i++) {
    const o = f.slots[i]! * 3 * dim;
    hb[i] = q8Dot(q, o, d, o / QK, xq, xd, dim);
    hb2[i] = q8Dot(q, o + dim, d, (o + dim) / QK, xq, xd, dim);
  }
  for (let i = 0; i < k; i++) hb[i] = silu(hb[i]!) * hb2[i]!;
  q8DownSum(out, f.bundles, f.slots, hb);
  if (f.bias) for (let i = 0; i < dim; i++) out[i] = out[i]! + f.bias[i]!;
}

/** out[0..dim) = sum_i a[i] * (Q8_0 down column of slot slots[i]). */
export function q8DownSum(out: Float32Array, b: FfnBundles, slots: Int32Array, a: Float32Array): void {
  const dim = b.dim;
  const { q, d } = b.q8;
  out.fill(0, 0, dim);
  for (let i = 0; i < slots.length; i++) {
    const o = slots[i]! * 3 * dim + 2 * dim;
    for (let blk = 0; blk < dim / QK; blk++) {
      const s = a[i]! * d[o / QK + blk]!;
      for (let j = blk * QK; j < (blk + 1) * QK; j++) out[j] = out[j]! + s * q[o + j]!;
    }
  }
}
