// Neuron scores from traced statistics, and top-k selection per layer.
import type { RankingMethod } from "./settings.ts";

/**
 * DART's scores for one layer. The paper accumulates sum(a^2), sum((|a| g_max)^2) and
 * sum((|a| g_mean)^2); since g is constant per neuron the last two equal g^2 sum(a^2),
 * so one accumulator gives all five rankings exactly.
 */
export function scoreLayer(
  ranking: RankingMethod,
  energy: Float32Array, // per neuron: sum (or EMA) of a^2
  gMax: Float32Array | undefined,
  gMean: Float32Array | undefined,
  out: Float32Array,
): Float32Array {
  const n = energy.length;
  const need = ranking !== "magnitude";
  if (need && (!gMax || !gMean)) throw new Error(`ranking ${ranking} needs the forward proxy`);
  for (let i = 0; i < n; i++) {
    const act = Math.sqrt(energy[i]!);
    switch (ranking) {
      case "magnitude": out[i] = act; break;
      case "max": out[i] = act * gMax![i]!; break;
      case "mean": out[i] = act * gMean![i]!; break;
      case "combined": out[i] = act * gMax![i]! + act * gMean![i]!; break;
      case "product": out[i] = act * gMax![i]! * (act * gMean![i]!); break;
    }
  }
  return out;
}

/**
 * Indices of the k largest scores, ascending by index (ties to the lower index; NaN ranks
 * lowest). Quickselect on a copy finds the k-th largest score, one pass collects the
 * indices: linear time, no sort (a re-mask runs this per layer, on the decode path).
 */
export function topK(scores: ArrayLike<number>, k: number): Int32Array {
  const n = scores.length;
  k = Math.max(0, Math.min(k, n));
  if (k === 0) return new Int32Array(0);
  const key = (v: number) => (Number.isNaN(v) ? -Infinity : v);
  const copy = new Float64Array(n);
  for (let i = 0; i < n; i++) copy[i] = key(scores[i]!);
  const t = select(copy, n - k); // the k-th largest
  let above = 0;
  for (let i = 0; i < n; i++) if (key(scores[i]!) > t) above++;
  let ties = k - above; // scores equal to t taken, lowest index first
  const out = new Int32Array(k);
  for (let i = 0, o = 0; o < k; i++) {
    const v = key(scores[i]!);
    if (v > t || (v === t && ties-- > 0)) out[o++] = i;
  }
  return out;
}

/** The value that would sit at index `r` of `a` sorted ascending (Hoare's quickselect; reorders `a`). */
function select(a: Float64Array, r: number): number {
  let lo = 0, hi = a.length - 1;
  while (lo < hi) {
    const pivot = a[(lo + hi) >> 1]!;
    let i = lo, j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const x = a[i]!;
        a[i++] = a[j]!;
        a[j--] = x;
      }
    }
    if (r <= j) hi = j;
    else if (r >= i) lo = i;
    else return a[r]!;
  }
  return a[r]!;
}
