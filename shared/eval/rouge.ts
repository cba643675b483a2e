/** ROUGE-L F1 between two token sequences (longest common subsequence). */
export function rougeL(candidate: ArrayLike<number>, reference: ArrayLike<number>): number {
  const n = candidate.length, m = reference.length;
  if (n === 0 || m === 0) return n === m ? 1 : 0;
  let prev = new Int32Array(m + 1);
  let cur = new Int32Array(m + 1);
  for (let i = 1; i <= n; i++) {
    for (let j = 1; j <= m; j++) {
      cur[j] = candidate[i - 1] === reference[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    }
    [prev, cur] = [cur, prev];
  }
  const lcs = prev[m]!;
  if (lcs === 0) return 0;
  const p = lcs / n, r = lcs / m;
  return (2 * p * r) / (p + r);
}
