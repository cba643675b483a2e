// Reference kernels on fp32 typed arrays. Matrices are row-major, rows = outputs.

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
