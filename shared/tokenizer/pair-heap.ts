// A heap of candidate merges of adjacent symbols, shared by both BPE tokenizers.

export interface HeapEntry<T> {
  score: number;
  left: number;
  leftTok: T;
  rightTok: T;
  merged: number;
}

/** Max-heap on score, then min on position (the leftmost pair wins ties). */
export class PairHeap<T> {
  private readonly items: HeapEntry<T>[] = [];
  get size(): number {
    return this.items.length;
  }
  private better(a: HeapEntry<T>, b: HeapEntry<T>): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(score: number, left: number, leftTok: T, rightTok: T, merged = -1): void {
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

