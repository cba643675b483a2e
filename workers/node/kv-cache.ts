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
  /** Called with each state that leaves the cache (the WASM backend returns its memory at once). */
  private readonly release: (state: InferenceState) => void;

  constructor(budgetBytes: number, release: (state: InferenceState) => void = () => {}) {
    this.budgetBytes = budgetBytes;
    this.release = release;
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

  /** The entry for `key` without changing its recency, or undefined. */
  peek(key: string): CachedSession | undefined {
    return this.entries.get(key);
  }

  drop(key: string): boolean {
    const e = this.entries.get(key);
    if (!e) return false;
    this.entries.delete(key);
    this.release(e.state);
    return true;
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
      this.release(e.state);
      bytes -= e.state.kvBytes;
    }
  }
}
