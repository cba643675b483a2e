// Per-session soft state on a node: the KV cache (inside InferenceState) and the token
// ids it holds. Least recently used entries go first once the byte budget is exceeded.
import type { InferenceState } from "../../shared/engine/transformer.ts";

export interface CachedSession {
  state: InferenceState;
  /** Token ids whose keys and values are in the cache, position 0 first. */
  ids: number[];
}

export class KvCache {
  readonly budgetBytes: number;
  private readonly entries = new Map<string, CachedSession>();

  constructor(budgetBytes: number) {
    this.budgetBytes = budgetBytes;
  }

  /** The entry for `key`, made most recently used; created (possibly evicting others) when absent. */
  acquire(key: string, create: () => InferenceState): CachedSession {
    let e = this.entries.get(key);
    if (e) this.entries.delete(key);
    else e = { state: create(), ids: [] };
    this.entries.set(key, e);
    this.evict(key);
    return e;
  }

  drop(key: string): boolean {
    return this.entries.delete(key);
  }

  get bytes(): number {
    let b = 0;
    for (const e of this.entries.values()) b += e.state.kvBytes;
    return b;
  }

  get size(): number {
    return this.entries.size;
  }

  private evict(keep: string): void {
    let bytes = this.bytes;
    for (const [k, e] of this.entries) {
      if (bytes <= this.budgetBytes) break;
      if (k === keep) continue;
      this.entries.delete(k);
      bytes -= e.state.kvBytes;
    }
  }
}
