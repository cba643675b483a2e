// Stop sequences (OpenAI's `stop`) matched on the decoded text as it streams, across token
// boundaries. Text is released as soon as it cannot be the start of a stop sequence; only a
// possible partial match at the end is held back. The stop sequence itself is never released.

export class StopMatcher {
  private readonly stops: string[];
  /** Text received but not yet released: always a possible start of a stop sequence. */
  private pending = "";
  /** Characters released so far. */
  released = 0;
  /** True once a stop sequence matched; nothing more is released. */
  stopped = false;

  constructor(stops: string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Adds generated text; returns the text that is now safe to send. */
  push(text: string): string {
    if (this.stopped) return "";
    this.pending += text;
    let hit = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (hit < 0 || i < hit)) hit = i;
    }
    if (hit >= 0) {
      this.stopped = true;
      return this.release(hit);
    }
    // Hold back the longest tail that begins some stop sequence.
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    return this.release(this.pending.length - hold);
  }

  /** Generation ended without a match: the held-back tail goes out. */
  flush(): string {
    return this.stopped ? "" : this.release(this.pending.length);
  }

  private release(n: number): string {
    const out = this.pending.slice(0, n);
    this.pending = this.stopped ? "" : this.pending.slice(n);
    this.released += out.length;
    return out;
  }
}
