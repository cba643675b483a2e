// The node's turn logic in-process on the real model: KV reuse must not change the output,
// context overflow drops the oldest entries, abort stops between tokens.
import { describe, expect, it } from "vitest";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import type { NodeEvent, NodeTurnRequest, TurnDone, TurnStart } from "../../shared/serving/protocol.ts";
import { NodeMetrics } from "../../shared/metrics/node-metrics.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { runTurn, type NodeEngine } from "../../workers/node/run-turn.ts";
import { stories } from "../helpers/model-dir.ts";

const { tf, tok } = stories();
const engine = (): NodeEngine => ({ name: "test", tf, tok, cache: new KvCache(64 << 20) });

function request(over: Partial<NodeTurnRequest>): NodeTurnRequest {
  return {
    sessionKey: "s",
    context: [],
    segments: [],
    maxTokens: 12,
    temperature: 0,
    topP: 1,
    seed: 1,
    dart: { ...DEFAULT_DART_SETTINGS, method: "dense" },
    prunerState: "",
    ...over,
  };
}

function turn(e: NodeEngine, req: NodeTurnRequest, abortAfter = Infinity) {
  const events: NodeEvent[] = [];
  let texts = 0;
  const record = runTurn(e, req, (ev) => {
    events.push(ev);
    if (ev.type === "text") texts++;
  }, () => texts >= abortAfter);
  return {
    record,
    events,
    start: events.find((x) => x.type === "start") as TurnStart | undefined,
    done: events.find((x) => x.type === "done") as TurnDone | undefined,
    error: events.find((x) => x.type === "error"),
  };
}

describe("runTurn", () => {
  it("a warm turn reuses the cached prefix and answers exactly as a cold node would", () => {
    const warm = engine();
    const t1 = turn(warm, request({ segments: [{ text: "Once upon a time" }] }));
    const context = [t1.start!.segmentIds[0]!, t1.done!.completionIds];
    const second = request({ context, segments: [{ text: "The dog barked." }] });
    const t2 = turn(warm, second);
    const cold = turn(engine(), second);
    // BOS + turn 1 prompt + all generated tokens but the last (never run through the model).
    expect(t2.start!.cachedTokens).toBe(1 + context[0]!.length + context[1]!.length - 1);
    expect(cold.start!.cachedTokens).toBe(0);
    expect(t2.done!.completionIds).toEqual(cold.done!.completionIds);
    expect(t2.done!.completion).toBe(cold.done!.completion);
  });

  it("a different history invalidates the cache past the first differing token", () => {
    const e = engine();
    turn(e, request({ segments: [{ text: "Once upon a time" }] }));
    const t = turn(e, request({ segments: [{ text: "Once upon a day" }] }));
    const common = tok.encode("Once upon a", { bos: true }).length;
    expect(t.start!.cachedTokens).toBeLessThanOrEqual(common);
    expect(t.done!.completion).toBe(turn(engine(), request({ segments: [{ text: "Once upon a day" }] })).done!.completion);
  });

  it("drops the oldest context entries that do not fit", () => {
    const seqLen = tf.config.seqLen;
    const entry = tok.encode("The cat sat on the mat and looked at the bird in the tree.", { bos: false });
    const n = Math.ceil(seqLen / entry.length) + 2;
    const t = turn(engine(), request({ context: Array.from({ length: n }, () => entry), segments: [{ text: "Then" }], maxTokens: 20 }));
    expect(t.start!.droppedEntries).toBeGreaterThan(0);
    expect(t.start!.promptTokens + 20).toBeLessThanOrEqual(seqLen);
    expect(t.start!.promptTokens).toBe(1 + (n - t.start!.droppedEntries) * entry.length + t.start!.segmentIds[0]!.length);
    expect(t.done!.completionIds.length).toBeGreaterThan(0);
  });

  it("refuses a turn whose own messages cannot fit", () => {
    const long = "word ".repeat(tf.config.seqLen);
    const t = turn(engine(), request({ segments: [{ text: long }], maxTokens: 10 }));
    expect(t.error).toMatchObject({ status: 400, code: "context_length_exceeded", param: "messages" });
    expect(t.start).toBeUndefined();
    // A client's error, not a failed turn: the node's metrics count it apart.
    expect(t.record.stopReason).toBe("rejected");
    const m = new NodeMetrics("n1");
    m.record(t.record);
    const text = m.render({ weights: { source: "file", bytesFetched: 0, shardHits: 0, shardMisses: 0 }, kvEntries: 0, kvBytes: 0, kvBudgetBytes: 0 });
    expect(text).toContain("dart_node_rejected_requests_total 1");
    expect(text).not.toMatch(/^dart_node_turns_total/m);
  });

  it("stops between tokens when aborted and reports no completion", () => {
    const t = turn(engine(), request({ segments: [{ text: "Once upon a time" }], maxTokens: 200 }), 3);
    expect(t.record.stopReason).toBe("abort");
    expect(t.record.completionTokens).toBeLessThanOrEqual(4);
    expect(t.done).toBeUndefined();
  });

  it("continues the DART pruner from the blob it serialized (the Session object's round trip)", () => {
    const dart = { ...DEFAULT_DART_SETTINGS, method: "dart" as const };
    const e = engine();
    const t1 = turn(e, request({ segments: [{ text: "Once upon a time" }], dart, maxTokens: 30 }));
    expect(t1.done!.pruner.state.length).toBeGreaterThan(0);
    expect(t1.done!.pruner.stats.effectiveSparsity).toBeGreaterThan(0);
    const next = request({ context: [t1.start!.segmentIds[0]!, t1.done!.completionIds], segments: [{ text: "The dog barked." }], dart, prunerState: t1.done!.pruner.state });
    const t2 = turn(e, next);
    // Counters carry over: the second report covers both turns' tokens.
    expect(t2.done!.pruner.stats.tokens).toBe(t1.done!.pruner.stats.tokens + (t2.start!.promptTokens - t2.start!.cachedTokens) + t2.done!.completionIds.length - 1);
    // A cold node continues from the blob too (its counters carry over), though its replayed
    // prefill runs dense and so its KV (and maybe its text) differs from the warm node's.
    const cold = turn(engine(), next);
    expect(cold.done!.pruner.stats.tokens).toBe(t1.done!.pruner.stats.tokens + cold.start!.promptTokens + cold.done!.completionIds.length - 1);
  });

  it("a blob it cannot read costs a re-trace, not the turn", () => {
    const t = turn(engine(), request({ segments: [{ text: "Once upon a time" }], dart: { ...DEFAULT_DART_SETTINGS, method: "dart" }, prunerState: btoa("garbage blob!") }));
    expect(t.error).toBeUndefined();
    expect(t.done!.completionIds.length).toBeGreaterThan(0);
  });
});
