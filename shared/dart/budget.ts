// Per-layer prune ratios: uniform, or DART's adaptive depth-aware budget.

export interface AutoBudgetOptions {
  /** Clip bounds of each layer's prune ratio. */
  minRatio: number;
  maxRatio: number;
  /** Early layers (z < earlyZ) ramp from earlyFloor to 1; late layers (z > lateZ) ramp from 1 down to lateFloor. */
  earlyZ: number;
  earlyFloor: number;
  lateZ: number;
  lateFloor: number;
  rounds: number;
}

export const DEFAULT_AUTO_BUDGET: AutoBudgetOptions = {
  minRatio: 0.1,
  maxRatio: 0.9,
  earlyZ: 0.3,
  earlyFloor: 0.25,
  lateZ: 0.85,
  lateFloor: 0.35,
  rounds: 10,
};

export function uniformRatios(nLayers: number, sparsity: number): number[] {
  return new Array(nLayers).fill(sparsity);
}

/** Depth protection D(z): lower pressure to prune the first and last layers. */
export function depthProtection(layer: number, nLayers: number, o: AutoBudgetOptions = DEFAULT_AUTO_BUDGET): number {
  const z = nLayers > 1 ? layer / (nLayers - 1) : 0;
  if (z < o.earlyZ) return o.earlyFloor + ((1 - o.earlyFloor) * z) / o.earlyZ;
  if (z > o.lateZ) return o.lateFloor + ((1 - o.lateFloor) * (1 - z)) / (1 - o.lateZ);
  return 1;
}

/**
 * DART's adaptive depth-aware budget, as the reference computes it (neuronDefuser.py,
 * compute_adaptive_topk). Input: each layer's importance S_l = (1 - mean cos(h, m)) *
 * mean(||m - h|| / ||h||), a product of two means over the traced tokens. Then
 *   S^ = (S - min S) / (max S - min S + eps), pressure P = (1 - S^) * D(z),
 *   p = clip(rho * L * P / sum P, minRatio, maxRatio),
 * and up to `rounds` corrections: the gap to rho * L is spread over the layers that can
 * still move (below maxRatio when more must be pruned, above minRatio when less) in
 * proportion to their pressure, then everything is clipped again. Every layer is pruned
 * at least minRatio, so below sparsity 0.1 the mean ratio is 0.1, as in the reference;
 * sparsity 0 alone means no pruning (the reference would still prune 10%).
 */
export function autoRatios(importance: ArrayLike<number>, sparsity: number, o: AutoBudgetOptions = DEFAULT_AUTO_BUDGET): number[] {
  const L = importance.length;
  if (sparsity <= 0) return new Array(L).fill(0);
  const eps = 1e-6;
  const s = Array.from(importance);
  const min = Math.min(...s);
  const max = Math.max(...s);
  const pressure = s.map((v, l) => (1 - (v - min) / (max - min + eps)) * depthProtection(l, L, o));
  const budget = sparsity * L;
  const clip = (r: number) => Math.min(o.maxRatio, Math.max(o.minRatio, r));
  const total = pressure.reduce((a, b) => a + b, 0);
  let p = pressure.map((x) => clip(total > 0 ? (budget * x) / total : sparsity));
  for (let round = 0; round < o.rounds; round++) {
    const gap = budget - p.reduce((a, b) => a + b, 0);
    if (Math.abs(gap) < eps) break;
    const free = p.map((r) => (gap > 0 ? r < o.maxRatio - eps : r > o.minRatio + eps));
    const count = free.filter(Boolean).length;
    if (count === 0) break;
    const freePressure = pressure.reduce((a, x, l) => a + (free[l] ? x : 0), 0);
    p = p.map((r, l) => {
      if (!free[l]) return r;
      // By pressure; evenly when the free layers have (almost) none, as the reference falls back.
      return clip(r + (freePressure > eps ? (gap * pressure[l]!) / freePressure : gap / count));
    });
  }
  return p;
}

/** Number of neurons kept in a layer of `hidden` neurons at prune ratio `ratio` (at least one). */
export function keptCount(hidden: number, ratio: number): number {
  return Math.max(1, Math.min(hidden, Math.round(hidden * (1 - ratio))));
}
