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

/** Indices of the k largest scores, ascending by index (ties to the lower index). */
export function topK(scores: ArrayLike<number>, k: number): Int32Array {
  const n = scores.length;
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(idx.slice(0, Math.min(k, n))).sort();
}
