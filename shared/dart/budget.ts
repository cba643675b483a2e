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
 * Layer importance S_l (mean over traced tokens of (1 - cos(h, m)) * ||m - h|| / ||h||),
 * normalised to [0, 1]; pressure R = 1 - S^; prune ratio proportional to R * D with a
 * total of sparsity * L, clipped, and the clipped residual handed to unclipped layers.
 */
export function autoRatios(importance: ArrayLike<number>, sparsity: number, o: AutoBudgetOptions = DEFAULT_AUTO_BUDGET): number[] {
  const L = importance.length;
  if (sparsity <= 0) return new Array(L).fill(0);
  const lo = Math.min(o.minRatio, sparsity);
  const hi = Math.max(o.maxRatio, sparsity);
  const s = Array.from(importance);
  const min = Math.min(...s);
  const max = Math.max(...s);
  const norm = s.map((v) => (max > min ? (v - min) / (max - min) : 0.5));
  const weight = norm.map((n, l) => Math.max((1 - n) * depthProtection(l, L, o), 1e-6));
  const total = sparsity * L;
  const ratios = new Array<number>(L).fill(0);
  const fixed = new Array<boolean>(L).fill(false);
  let remaining = total;
  for (let round = 0; round < o.rounds; round++) {
    const free = weight.reduce((acc, w, l) => acc + (fixed[l] ? 0 : w), 0);
    if (free <= 0) break;
    let clipped = false;
    for (let l = 0; l < L; l++) {
      if (fixed[l]) continue;
      const r = (remaining * weight[l]!) / free;
      if (r < lo || r > hi) {
        ratios[l] = r < lo ? lo : hi;
        fixed[l] = true;
        clipped = true;
      } else ratios[l] = r;
    }
    remaining = total - ratios.reduce((acc, r, l) => acc + (fixed[l] ? r : 0), 0);
    if (!clipped) break;
  }
  return ratios;
}

/** Number of neurons kept in a layer of `hidden` neurons at prune ratio `ratio` (at least one). */
export function keptCount(hidden: number, ratio: number): number {
  return Math.max(1, Math.min(hidden, Math.round(hidden * (1 - ratio))));
}
