// The merge loop shared by both BPE tokenizers: adjacent symbols are merged best pair
// first (leftmost on ties) until no pair merges, with a heap over a linked list so long
// texts stay fast instead of llama2.c's quadratic rescans.

export interface HeapEntry<T> {
  score: number;
  left: number;
  leftTok: T;
  rightTok: T;
  merged: T;
}

/** What merging two adjacent symbols gives, and how early it merges (higher score first). */
export type PairMerge<T> = (left: T, right: T) => { score: number; merged: T } | undefined;

/** Merges `symbols` pair by pair, highest-scoring pair first, leftmost on ties. */
export function mergePairs<T>(symbols: T[], pairMerge: PairMerge<T>): T[] {
  const n = symbols.length;
  if (n < 2) return symbols;
  const sym = symbols.slice();
  const prev = new Int32Array(n);
  const next = new Int32Array(n);
  const alive = new Uint8Array(n).fill(1);
  for (let i = 0; i < n; i++) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  const heap = new PairHeap<T>();
  const consider = (left: number) => {
    const right = next[left]!;
    if (left < 0 || right < 0) return;
    const m = pairMerge(sym[left]!, sym[right]!);
    if (m) heap.push(m.score, left, sym[left]!, sym[right]!, m.merged);
  };
  for (let i = 0; i + 1 < n; i++) consider(i);
  while (heap.size > 0) {
    const e = heap.pop();
    const right = next[e.left]!;
    // Skip entries made stale by an earlier merge of either side.
    if (!alive[e.left] || right < 0 || sym[e.left] !== e.leftTok || sym[right] !== e.rightTok) continue;
    sym[e.left] = e.merged;
    alive[right] = 0;
    next[e.left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = e.left;
    consider(e.left);
    if (prev[e.left]! >= 0) consider(prev[e.left]!);
  }
  const out: T[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(sym[i]!);
  return out;
}

/** Max-heap on score, then min on position (the leftmost pair wins ties). */
class PairHeap<T> {
  private readonly items: HeapEntry<T>[] = [];
  get size(): number {
    return this.items.length;
  }
  private better(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(score: number, left: number, leftTok: T, rightTok: T, merged: T): void {
    const items = this.items;
    items.push({ score, left, leftTok, rightTok, merged });
    let i = items.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(items[i]!, items[p]!)) break;
      [items[i], items[p]] = [items[p]!, items[i]!];
      i = p;
    }
  }
  pop(): HeapEntry<T> {
    const items = this.items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      items[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let best = i;
        if (l < items.length && this.better(items[l]!, items[best]!)) best = l;
        if (r < items.length && this.better(items[r]!, items[best]!)) best = r;
        if (best === i) break;
        [items[i], items[best]] = [items[best]!, items[i]!];
        i = best;
      }
    }
    return top;
  }
}

