// The node's per-session KV cache: least recently used sessions go first over the byte budget.
import { describe, expect, it } from "vitest";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { stories } from "../helpers/model-dir.ts";

const { tf } = stories();
const perSession = tf.newState().kvBytes;

describe("KvCache", () => {
  it("evicts the least recently used session once over budget, never the one being acquired", () => {
    const c = new KvCache(perSession * 2);
    const a = c.acquire("a", () => tf.newState());
    a.ids = [1, 2, 3];
    c.acquire("b", () => tf.newState());
    expect(c.acquire("a", () => tf.newState())).toBe(a); // a is now most recent
    c.acquire("c", () => tf.newState()); // over budget: b goes
    expect(c.size).toBe(2);
    expect(c.bytes).toBe(perSession * 2);
    expect(c.acquire("a", () => tf.newState()).ids).toEqual([1, 2, 3]);
    expect(c.acquire("b", () => tf.newState()).ids).toEqual([]); // recreated empty
  });

  it("keeps a single session even when it alone exceeds the budget", () => {
    const c = new KvCache(1);
    c.acquire("a", () => tf.newState());
    expect(c.size).toBe(1);
    c.acquire("b", () => tf.newState());
    expect(c.size).toBe(1);
    expect(c.drop("b")).toBe(true);
    expect(c.size).toBe(0);
  });
});

describe("KvCache release", () => {
  it("hands every evicted or dropped state to the release callback, and only those", () => {
    const released: unknown[] = [];
    const c = new KvCache(perSession, (s) => released.push(s));
    const a = c.acquire("a", () => tf.newState());
    const b = c.acquire("b", () => tf.newState()); // a evicted
    expect(released).toEqual([a.state]);
    c.drop("b");
    expect(released).toEqual([a.state, b.state]);
    expect(c.drop("b")).toBe(false);
    expect(released).toHaveLength(2);
  });
});
