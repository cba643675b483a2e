// What a full node's trace leaves on the sparse node that will decode the turn (POST
// /v1/handoff): the traced pruner state, the prior masks and the KV entries, so they go node
// to node instead of twice through the Session object. Keyed by the Session object's signed
// session key and a random id it chose for the turn: a session cannot name another's handoff.
// Taken once by the turn that names it; bounded in bytes (oldest out first) and in time.
import type { NodeHandoff } from "../../shared/serving/protocol.ts";

import { ByteBoundedMap } from "./byte-bounded-map.ts";

interface Entry {
  handoff: NodeHandoff;
  at: number;
}

export class HandoffStore {
  readonly ttlMs: number;
  private readonly entries: ByteBoundedMap<Entry>;
  received = 0;
  taken = 0;
  missing = 0;

  constructor(budgetBytes: number, ttlMs: number) {
    this.entries = new ByteBoundedMap(budgetBytes);
    this.ttlMs = ttlMs;
  }

  get budgetBytes(): number {
    return this.entries.budgetBytes;
  }

  private static key(sessionKey: string, id: string): string {
    return `${sessionKey}\n${id}`;
  }

  /** Keeps `h` (`bytes`: its body size); false when it alone exceeds the budget. */
  put(h: NodeHandoff, bytes: number, now = performance.now()): boolean {
    this.expire(now);
    if (!this.entries.set(HandoffStore.key(h.sessionKey, h.id), { handoff: h, at: now }, bytes)) return false;
    this.received++;
    return true;
  }

  /** The handoff for this session and id, removed; null when it never came, expired or was evicted. */
  take(sessionKey: string, id: string, now = performance.now()): NodeHandoff | null {
    this.expire(now);
    const key = HandoffStore.key(sessionKey, id);
    const e = this.entries.get(key);
    if (!e) {
      this.missing++;
      return null;
    }
    this.entries.delete(key);
    this.taken++;
    return e.handoff;
  }

  /** Entries are in insertion order, so the expired ones are first. */
  private expire(now: number): void {
    for (const [k, e] of this.entries.oldestFirst()) {
      if (now - e.at < this.ttlMs) break; // strictly: a TTL of 0 keeps nothing (a test of the lost-handoff path)
      this.entries.delete(k);
    }
  }

  stats() {
    return { entries: this.entries.size, bytes: this.entries.bytes, budgetBytes: this.budgetBytes, ttlMs: this.ttlMs, received: this.received, taken: this.taken, missing: this.missing };
  }
}
