// Reference kernels on fp32 typed arrays. Matrices are row-major, rows = outputs.
// These are the readable definitions; backend/ holds faster implementations of the
// hot ones (matvec, attention, compacted FFN) that must agree with them.
import type { CompactFfn } from "./compact-ffn.ts";
import type { FfnBundles } from "./ffn-bundles.ts";
import { q8CompactFfn, q8DownSum } from "./q8-kernels.ts";

/** out[i] = sum_j w[i*n + j] * x[j] for i < d. */
export function matvec(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
  for (let i = 0; i < d; i++) {
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    const row = i * n;
    let j = 0;
    for (; j + 3 < n; j += 4) {
      s0 += w[row + j]! * x[j]!;
      s1 += w[row + j + 1]! * x[j + 1]!;
      s2 += w[row + j + 2]! * x[j + 2]!;
      s3 += w[row + j + 3]! * x[j + 3]!;
    }
    for (; j < n; j++) s0 += w[row + j]! * x[j]!;
    out[i] = s0 + s1 + s2 + s3;
  }
}

/** Batched matvec: out[t*d + i] = dot(w row i, x[t*n ..]) for each of ntok tokens. */
export function matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, ntok: number): void {
  for (let t = 0; t < ntok; t++) matvec(out.subarray(t * d, (t + 1) * d), x.subarray(t * n, (t + 1) * n), w, n, d);
}

/** compactFfn for ntok tokens: rows of x, out (dim each) and hb, hb2 (k = f.slots.length each). */
export function compactFfnBatch(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number, ntok: number): void {
  const k = f.slots.length;
  for (let t = 0; t < ntok; t++) {
    compactFfn(f, x.subarray(t * dim, (t + 1) * dim), hb.subarray(t * k, (t + 1) * k), hb2.subarray(t * k, (t + 1) * k),
      out.subarray(t * dim, (t + 1) * dim), dim);
  }
}

/** Shape of grouped-query attention: query heads, heads per kv head, head size, kv width. */
export interface AttentionShape {
  nHeads: number;
  kvMul: number;
  headSize: number;
  kvDim: number;
}

/**
 * Causal attention of one query token over cached positions 0..pos of one layer.
 * keyCache/valueCache hold seqLen x kvDim rows per layer starting at `layerBase`;
 * `att` is scratch (>= pos+1 floats); out[h*headSize ..] gets head h's mix of values.
 */
export function attention(
  out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array,
  att: Float32Array, layerBase: number, pos: number, a: AttentionShape,
): void {
  const hs = a.headSize;
  const scale = 1 / Math.sqrt(hs);
  for (let h = 0; h < a.nHeads; h++) {
    const qo = h * hs;
    const kvo = ((h / a.kvMul) | 0) * hs;
    for (let t = 0; t <= pos; t++) {
      const ko = layerBase + t * a.kvDim + kvo;
      let score = 0;
      for (let i = 0; i < hs; i++) score += q[qo + i]! * keyCache[ko + i]!;
      att[t] = score * scale;
    }
    softmax(att, pos + 1);
    out.fill(0, qo, qo + hs);
    for (let t = 0; t <= pos; t++) {
      const p = att[t]!;
      const vo = layerBase + t * a.kvDim + kvo;
      for (let i = 0; i < hs; i++) out[qo + i] = out[qo + i]! + p * valueCache[vo + i]!;
    }
  }
}

/**
 * SwiGLU FFN over the slots of f (its kept neurons, or every neuron): x (normed input, dim)
 * -> out (dim), plus f.bias if any. Activations SiLU(gate) * up land in hb[0..k); hb2 is scratch.
 */
export function compactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
  if (f.bundles.format === "q8_0") return q8CompactFfn(f, x, hb, hb2, out, dim);
  const k = f.slots.length;
  const m = f.bundles.data;
  for (let i = 0; i < k; i++) {
    const o = f.slots[i]! * 3 * dim;
    let g = 0, u = 0;
    for (let d = 0; d < dim; d++) {
      g += m[o + d]! * x[d]!;
      u += m[o + dim + d]! * x[d]!;
    }
    hb[i] = g;
    hb2[i] = u;
  }
  for (let i = 0; i < k; i++) hb[i] = silu(hb[i]!) * hb2[i]!;
  downSum(out, f.bundles, f.slots, hb);
  if (f.bias) for (let d = 0; d < dim; d++) out[d] = out[d]! + f.bias[d]!;
}

/** out[0..dim) = sum_i a[i] * (W_down column of the neuron in slot slots[i]). */
export function downSum(out: Float32Array, b: FfnBundles, slots: Int32Array, a: Float32Array): void {
  if (b.format === "q8_0") return q8DownSum(out, b, slots, a);
  const dim = b.dim;
  const m = b.data;
  out.fill(0, 0, dim);
  for (let i = 0; i < slots.length; i++) {
    const ai = a[i]!;
    const o = slots[i]! * 3 * dim + 2 * dim;
    for (let d = 0; d < dim; d++) out[d] = out[d]! + ai * m[o + d]!;
  }
}

export function rmsnorm(out: Float32Array, x: Float32Array, weight: Float32Array, eps: number): void {
  const n = x.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[i]! * x[i]!;
  const scale = 1 / Math.sqrt(ss / n + eps);
  for (let i = 0; i < n; i++) out[i] = weight[i]! * (scale * x[i]!);
}

/** In-place softmax over x[0..n). */
export function softmax(x: Float32Array, n = x.length): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[i]! > max) max = x[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(x[i]! - max);
    x[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) x[i] = x[i]! / sum;
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}
