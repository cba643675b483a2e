// Seeded random masks: a deterministic pseudo-random ascending kept set of `k` of `n` neurons
// (memory measurements and tests; never a mask a model should run).
export function randomKept(n: number, k: number, seed: number): Int32Array {
  let s = seed >>> 0 || 1;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const idx = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [idx[i], idx[j]] = [idx[j]!, idx[i]!];
  }
  return Int32Array.from(idx.slice(0, k).sort((a, b) => a - b));
}
