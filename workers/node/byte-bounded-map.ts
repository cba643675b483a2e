// A map bounded in bytes: each value is stored with its size, and once the total exceeds the
// budget the oldest entries go first (insertion order; `touch` makes an entry the newest).
// The node's soft caches (pruner states, trace handoffs) keep their entries in one.
export class ByteBoundedMap<V> {
  readonly budgetBytes: number;
  private readonly entries = new Map<string, { value: V; bytes: number }>();
  private total = 0;

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.total;
  }

  get(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** Makes the entry the most recently used (the last to go). */
  touch(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.entries.set(key, e);
  }

  /** Stores `value` (`bytes` long) as the newest entry, evicting the oldest over the budget; false, storing nothing, when it alone exceeds the budget. */
  set(key: string, value: V, bytes: number): boolean {
    if (bytes > this.budgetBytes) return false;
    this.delete(key);
    this.entries.set(key, { value, bytes });
    this.total += bytes;
    for (const k of this.entries.keys()) {
      if (this.total <= this.budgetBytes) break;
      this.delete(k);
    }
    return true;
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.total -= e.bytes;
  }

  /** Entries oldest first. */
  *oldestFirst(): IterableIterator<[string, V]> {
    for (const [k, e] of this.entries) yield [k, e.value];
  }
}
