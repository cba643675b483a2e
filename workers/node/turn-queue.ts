// The node's admission queue. The engine runs one turn at a time; turns waiting for it are
// queued per tenant (the API key's namespace), and the next turn goes to the waiting tenant
// served least recently, so a key with many turns waiting cannot starve one with a single turn. The queue is
// bounded twice: at most `maxWaiting` turns wait (more are refused at once), and a turn that
// has waited `maxWaitMs` is refused then, so the Session object hears "busy, retry in N s"
// (429 with Retry-After) well before its node timeout would call the node dead.

export interface TurnQueueOptions {
  maxWaiting: number;
  maxWaitMs: number;
}

export interface TurnSlot {
  /** Resolves true when the turn may run, false when it waited too long (refuse it). */
  ready: Promise<boolean>;
  /** Leaves the queue, or frees the engine after the turn; safe to call more than once. */
  release(): void;
}

interface Waiter {
  tenant: string;
  resolve(ok: boolean): void;
  timer: ReturnType<typeof setTimeout>;
}

export class FairTurnQueue {
  private readonly opts: TurnQueueOptions;
  /** Waiting turns per tenant; Map order is the round-robin order. */
  private readonly queues = new Map<string, Waiter[]>();
  private waitingCount = 0;
  private running = false;
  private startedAt = 0;
  /** Moving average of a turn's time on the engine, for Retry-After. */
  private avgTurnMs = 1000;
  /** When each tenant last started a turn (a counter); tenants never seen count as 0. */
  private readonly served = new Map<string, number>();
  private starts = 0;

  constructor(opts: TurnQueueOptions) {
    this.opts = opts;
  }

  stats(): { running: number; waiting: number; tenants: number; maxWaiting: number } {
    return { running: this.running ? 1 : 0, waiting: this.waitingCount, tenants: this.queues.size, maxWaiting: this.opts.maxWaiting };
  }

  /** Seconds a refused client should wait before retrying (the queue's expected drain time, at least 1). */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(((this.waitingCount + 1) * this.avgTurnMs) / 1000));
  }

  /** A slot for one turn, or null when the queue is full (refuse with retryAfterSeconds()). */
  enter(tenant: string): TurnSlot | null {
    if (this.running && this.waitingCount >= this.opts.maxWaiting) return null;
    let state: "waiting" | "running" | "done" = "waiting";
    let waiter: Waiter | null = null;
    const ready = new Promise<boolean>((resolve) => {
      if (!this.running) {
        this.start(tenant);
        state = "running";
        return resolve(true);
      }
      waiter = {
        tenant,
        resolve: (ok) => {
          state = ok ? "running" : "done";
          resolve(ok);
        },
        timer: setTimeout(() => {
          this.remove(waiter!);
          waiter!.resolve(false);
        }, this.opts.maxWaitMs),
      };
      const q = this.queues.get(tenant);
      if (q) q.push(waiter);
      else this.queues.set(tenant, [waiter]);
      this.waitingCount++;
    });
    return {
      ready,
      release: () => {
        if (state === "waiting" && waiter) {
          this.remove(waiter);
          waiter.resolve(false);
        } else if (state === "running") {
          state = "done";
          this.finish();
        }
      },
    };
  }

  private start(tenant: string): void {
    this.running = true;
    this.startedAt = Date.now();
    this.served.set(tenant, ++this.starts);
    if (this.served.size > 4 * this.opts.maxWaiting + 16) {
      for (const t of this.served.keys()) if (t !== tenant && !this.queues.has(t)) this.served.delete(t);
    }
  }

  private finish(): void {
    this.avgTurnMs = 0.8 * this.avgTurnMs + 0.2 * (Date.now() - this.startedAt);
    this.running = false;
    // The waiting tenant served least recently goes next (ties: the one that queued first).
    let pick: string | null = null;
    for (const t of this.queues.keys()) if (pick === null || (this.served.get(t) ?? 0) < (this.served.get(pick) ?? 0)) pick = t;
    if (pick === null) return;
    const q = this.queues.get(pick)!;
    const w = q.shift()!;
    if (q.length === 0) this.queues.delete(pick);
    this.waitingCount--;
    clearTimeout(w.timer);
    this.start(pick);
    w.resolve(true);
  }

  private remove(w: Waiter): void {
    const q = this.queues.get(w.tenant);
    const i = q?.indexOf(w) ?? -1;
    if (!q || i < 0) return;
    q.splice(i, 1);
    if (q.length === 0) this.queues.delete(w.tenant);
    this.waitingCount--;
    clearTimeout(w.timer);
  }
}
