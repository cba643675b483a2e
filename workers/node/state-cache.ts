// Soft cache of pruner states on a node: the state each session's last turn here produced,
// under its version (shared/serving/state-version.ts). The Session object stays the source of
// truth; when a turn names a version this node holds, the state need not cross the network
// again. One entry per session (only the latest state is ever asked for), least recently
// used first out once the byte budget is exceeded. Keys are the Session object's id, which
// only the Session object knows: one session cannot name, or probe for, another's state.
import { createHash } from "node:crypto";
import { ByteBoundedMap } from "./byte-bounded-map.ts";

/** shared/serving/state-version.ts's stateVersion, synchronous (Node), so the state is kept before the turn's last line goes out. */
export function stateVersionOfBase64(base64: string): string {
  return createHash("sha256").update(Buffer.from(base64, "base64")).digest("hex").slice(0, 32);
}

interface Entry {
  version: string;
  base64: string;
}

export interface StateRequest {
  sessionKey: string;
  prunerState: string;
  prunerStateVersion?: string;
}

export class PrunerStateCache {
  private readonly entries: ByteBoundedMap<Entry>;
  hits = 0;
  misses = 0;

  constructor(budgetBytes: number) {
    this.entries = new ByteBoundedMap(budgetBytes);
  }

  get budgetBytes(): number {
    return this.entries.budgetBytes;
  }

  /**
   * Fills `req.prunerState` from the cache when the request names a version instead of
   * sending the state. False: the request names a version this node does not hold.
   */
  resolve(req: StateRequest): boolean {
    if (req.prunerState !== "" || !req.prunerStateVersion) return true;
    const e = this.entries.get(req.sessionKey);
    if (!e || e.version !== req.prunerStateVersion) {
      this.misses++;
      return false;
    }
    this.hits++;
    this.entries.touch(req.sessionKey); // most recently used goes last
    req.prunerState = e.base64;
    return true;
  }

  /** Keeps the state a turn just produced for the session (replacing the previous one). */
  remember(sessionKey: string, base64: string): void {
    this.drop(sessionKey); // an oversized state leaves no stale one behind
    this.entries.set(sessionKey, { version: stateVersionOfBase64(base64), base64 }, base64.length);
  }

  drop(sessionKey: string): void {
    this.entries.delete(sessionKey);
  }

  stats() {
    return { entries: this.entries.size, bytes: this.entries.bytes, budgetBytes: this.budgetBytes, hits: this.hits, misses: this.misses };
  }
}
