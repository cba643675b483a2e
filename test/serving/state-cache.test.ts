// The node's pruner-state soft cache: the same version the Session object computes, one
// state per session, no answer for another session's key, and a byte budget.
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { toBase64 } from "../../shared/serving/base64.ts";
import { stateVersion } from "../../shared/serving/state-version.ts";
import { PrunerStateCache, stateVersionOfBase64 } from "../../workers/node/state-cache.ts";

describe("PrunerStateCache", () => {
  it("versions states as the Session object does", async () => {
    for (const n of [0, 1, 1000, 70_000]) {
      const bytes = new Uint8Array(randomBytes(n));
      expect(stateVersionOfBase64(toBase64(bytes))).toBe(await stateVersion(bytes));
    }
  });

  it("fills a request that names the version it holds, for that session only", () => {
    const c = new PrunerStateCache(1 << 20);
    const b64 = toBase64(new Uint8Array(randomBytes(300)));
    c.remember("a", b64);
    const version = stateVersionOfBase64(b64);
    const req = { sessionKey: "a", prunerState: "", prunerStateVersion: version };
    expect(c.resolve(req)).toBe(true);
    expect(req.prunerState).toBe(b64);
    expect(c.resolve({ sessionKey: "b", prunerState: "", prunerStateVersion: version })).toBe(false);
    expect(c.resolve({ sessionKey: "a", prunerState: "", prunerStateVersion: "0".repeat(32) })).toBe(false);
    // A request carrying its state (or none) needs nothing from the cache.
    expect(c.resolve({ sessionKey: "z", prunerState: "" })).toBe(true);
    expect(c.stats()).toMatchObject({ hits: 1, misses: 2, entries: 1 });
  });

  it("keeps one state per session and the most recent sessions within its budget", () => {
    const c = new PrunerStateCache(1000);
    const s = (n: number) => toBase64(new Uint8Array(randomBytes(n)));
    c.remember("a", s(300));
    c.remember("a", s(300)); // replaces a's
    expect(c.stats()).toMatchObject({ entries: 1, bytes: 400 });
    c.remember("b", s(300));
    c.remember("c", s(300)); // 1200 > 1000: a goes
    expect(c.stats().entries).toBe(2);
    expect(c.stats().bytes).toBeLessThanOrEqual(1000);
    const last = s(300);
    c.remember("d", last);
    expect(c.resolve({ sessionKey: "d", prunerState: "", prunerStateVersion: stateVersionOfBase64(last) })).toBe(true);
    c.remember("huge", s(900)); // bigger than the whole budget once base64: not kept
    expect(c.resolve({ sessionKey: "huge", prunerState: "", prunerStateVersion: "0".repeat(32) })).toBe(false);
  });
});
