// The sparse node's store of pushed traces (split turns): taken once, by the session and id
// that pushed it only, bounded in bytes (oldest out first) and in time; and the shape checks
// of what nodes push to each other.
import { describe, expect, it } from "vitest";
import type { NodeHandoff } from "../../shared/serving/protocol.ts";
import { HandoffStore } from "../../workers/node/handoff-store.ts";
import { validateHandoff, validateStatePush, validateTraceRequest, validateTurnRequest } from "../../workers/node/validate.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";

const id = (n: number) => n.toString(16).padStart(32, "0");
const handoff = (sessionKey: string, n: number): NodeHandoff => ({ sessionKey, id: id(n), state: "AAAA", prior: null, kv: null });

describe("HandoffStore", () => {
  it("gives a handoff once, to the session and id it was pushed under", () => {
    const s = new HandoffStore(1 << 20, 60_000);
    expect(s.put(handoff("a", 1), 100)).toBe(true);
    expect(s.take("b", id(1))).toBeNull(); // another session cannot name it
    expect(s.take("a", id(2))).toBeNull();
    expect(s.take("a", id(1))).toMatchObject({ sessionKey: "a", id: id(1) });
    expect(s.take("a", id(1))).toBeNull(); // taken: gone
    expect(s.stats()).toMatchObject({ entries: 0, bytes: 0, received: 1, taken: 1, missing: 3 });
  });

  it("keeps within its byte budget, oldest out first, and refuses one larger than the budget", () => {
    const s = new HandoffStore(1000, 60_000);
    for (let i = 0; i < 4; i++) expect(s.put(handoff(`s${i}`, i), 300)).toBe(true);
    expect(s.stats()).toMatchObject({ entries: 3, bytes: 900 });
    expect(s.take("s0", id(0))).toBeNull();
    expect(s.take("s3", id(3))).not.toBeNull();
    expect(s.put(handoff("big", 9), 1001)).toBe(false);
    expect(s.stats().bytes).toBe(600);
  });

  it("forgets handoffs older than its TTL", () => {
    const s = new HandoffStore(1 << 20, 1000);
    s.put(handoff("a", 1), 10, 0);
    s.put(handoff("b", 2), 10, 900);
    expect(s.take("a", id(1), 1500)).toBeNull();
    expect(s.take("b", id(2), 1500)).not.toBeNull();
  });
});

describe("node-to-node shapes", () => {
  const turn = { sessionKey: "s", context: [], segments: [{ text: "hi" }], maxTokens: 4, temperature: 0, topP: 1, seed: 1, dart: DEFAULT_DART_SETTINGS, prunerState: "" };
  it("checks handoffs, state pushes, handoff targets and handoff ids", () => {
    expect(validateHandoff(handoff("s", 1))).toBeNull();
    expect(validateHandoff({ ...handoff("s", 1), id: "../x" })).toMatchObject({ param: "id" });
    expect(validateHandoff({ ...handoff("s", 1), state: "not base64!" })).toMatchObject({ param: "state" });
    expect(validateHandoff({ ...handoff("s", 1), kv: { from: 0 } })).toMatchObject({ param: "kv" });
    expect(validateStatePush({ sessionKey: "s", state: "AAAA" })).toBeNull();
    expect(validateStatePush({ sessionKey: "s", state: "" })).toMatchObject({ param: "state" });
    expect(validateTraceRequest({ ...turn, kvFrom: null, handoffTo: { url: "http://10.0.0.2:8787", id: id(1) } })).toBeNull();
    expect(validateTraceRequest({ ...turn, kvFrom: null, handoffTo: { url: "file:///etc/passwd", id: id(1) } })).toMatchObject({ param: "handoffTo" });
    expect(validateTurnRequest({ ...turn, trace: { node: "f", prior: null, kv: null, handoff: id(1), stateTo: "http://10.0.0.1:8787" } })).toBeNull();
    expect(validateTurnRequest({ ...turn, trace: { node: "f", prior: null, kv: null, handoff: "x" } })).toMatchObject({ param: "trace.handoff" });
    expect(validateTurnRequest({ ...turn, trace: { node: "f", prior: null, kv: null, stateTo: "gopher://x" } })).toMatchObject({ param: "trace.stateTo" });
  });
});
