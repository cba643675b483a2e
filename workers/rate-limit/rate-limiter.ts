// Per-API-key token bucket. One object per key hash, so the limit holds across gateway
// isolates. State is in memory: an evicted limiter starts with a full bucket, which errs
// on the side of serving.
import { DurableObject } from "cloudflare:workers";

export interface TakeResult {
  allowed: boolean;
  /** Seconds until a request would be allowed (0 when allowed). */
  retryAfter: number;
}

export class RateLimiter extends DurableObject {
  private tokens = -1;
  private updated = 0;
  /** Turns of this key in flight: id -> lease expiry (a lost release frees its slot then). */
  private readonly turns = new Map<string, number>();

  /** Takes one request from a bucket of `perMinute` that refills continuously. */
  take(perMinute: number): TakeResult {
    this.refill(perMinute);
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return { allowed: true, retryAfter: 0 };
    }
    return { allowed: false, retryAfter: Math.ceil(((1 - this.tokens) / perMinute) * 60) };
  }

  /** Whether a request would be allowed now, without taking one (the failed-authentication guard). */
  peek(perMinute: number): TakeResult {
    this.refill(perMinute);
    return this.tokens >= 1 ? { allowed: true, retryAfter: 0 } : { allowed: false, retryAfter: Math.ceil(((1 - this.tokens) / perMinute) * 60) };
  }

  private refill(perMinute: number): void {
    const now = Date.now();
    if (this.tokens < 0) this.tokens = perMinute;
    else this.tokens = Math.min(perMinute, this.tokens + ((now - this.updated) / 60_000) * perMinute);
    this.updated = now;
  }

  /** Takes one of `max` concurrent-turn slots for `leaseMs`, or says when one may free up. */
  acquireTurn(max: number, leaseMs: number): { id: string | null; inFlight: number } {
    const now = Date.now();
    for (const [id, until] of this.turns) if (until <= now) this.turns.delete(id);
    if (this.turns.size >= max) return { id: null, inFlight: this.turns.size };
    const id = crypto.randomUUID();
    this.turns.set(id, now + leaseMs);
    return { id, inFlight: this.turns.size };
  }

  releaseTurn(id: string): void {
    this.turns.delete(id);
  }
}
