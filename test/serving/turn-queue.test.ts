// The node's admission queue (workers/node/turn-queue.ts): one turn on the engine, the next
// to the tenant served least recently, bounded in length and in waiting time.
import { describe, expect, it } from "vitest";
import { FairTurnQueue, type TurnSlot } from "../../workers/node/turn-queue.ts";

/** Enters `tenant` and records, in `order`, when its turn gets the engine. */
function enter(q: FairTurnQueue, tenant: string, label: string, order: string[]): TurnSlot {
  const slot = q.enter(tenant)!;
  void slot.ready.then((ok) => ok && order.push(label));
  return slot;
}
const tick = () => new Promise((r) => setTimeout(r, 0));

describe("FairTurnQueue", () => {
  it("gives the engine to a polite tenant before a greedy tenant's backlog", async () => {
    const q = new FairTurnQueue({ maxWaiting: 16, maxWaitMs: 60_000 });
    const order: string[] = [];
    const slots = new Map<string, TurnSlot>();
    for (const l of ["a1", "a2", "a3", "a4"]) slots.set(l, enter(q, "A", l, order));
    slots.set("b1", enter(q, "B", "b1", order));
    slots.set("c1", enter(q, "C", "c1", order));
    slots.set("b2", enter(q, "B", "b2", order));
    await tick();
    expect(order).toEqual(["a1"]);
    expect(q.stats()).toMatchObject({ running: 1, waiting: 6, tenants: 3 });
    for (let i = 0; i < 6; i++) {
      slots.get(order.at(-1)!)!.release();
      await tick();
    }
    // A has run once, so B and C (never served) go first; then least recently served each time.
    expect(order).toEqual(["a1", "b1", "c1", "a2", "b2", "a3", "a4"]);
  });

  it("refuses at once beyond maxWaiting, and refuses a turn that waited maxWaitMs", async () => {
    const q = new FairTurnQueue({ maxWaiting: 2, maxWaitMs: 50 });
    const running = q.enter("A")!;
    expect(await running.ready).toBe(true);
    const w1 = q.enter("A")!;
    const w2 = q.enter("B")!;
    expect(q.enter("C")).toBeNull();
    expect(q.retryAfterSeconds()).toBeGreaterThanOrEqual(1);
    expect(await w1.ready).toBe(false); // timed out
    expect(await w2.ready).toBe(false);
    expect(q.stats().waiting).toBe(0);
    running.release();
    expect(await q.enter("C")!.ready).toBe(true);
  });

  it("a turn that leaves while waiting frees its place; releasing twice is harmless", async () => {
    const q = new FairTurnQueue({ maxWaiting: 1, maxWaitMs: 60_000 });
    const r = q.enter("A")!;
    const w = q.enter("B")!;
    w.release();
    expect(await w.ready).toBe(false);
    const next = q.enter("C")!;
    r.release();
    r.release();
    expect(await next.ready).toBe(true);
    expect(q.stats()).toMatchObject({ running: 1, waiting: 0 });
  });
});
