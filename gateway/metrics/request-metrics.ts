// What one request contributes to the gateway's metrics, filled in as it goes: the
// generation route marks the first token and the usage; a stream marks when it ends.
export class RequestMetrics {
  readonly startedAt = performance.now();
  tokensIn = 0;
  tokensOut = 0;
  ttftSeconds: number | null = null;
  /** Resolves when the response body is finished (set by streaming routes). */
  finished: Promise<void> = Promise.resolve();

  firstToken(): void {
    // performance.now() in a Worker advances on I/O, which is what a first token is.
    if (this.ttftSeconds === null) this.ttftSeconds = (performance.now() - this.startedAt) / 1000;
  }

  usage(promptTokens: number, completionTokens: number): void {
    this.tokensIn = promptTokens;
    this.tokensOut = completionTokens;
  }

  /** A promise the route resolves once its stream has ended, and the function that resolves it. */
  streaming(): () => void {
    let done!: () => void;
    this.finished = new Promise<void>((r) => (done = r));
    return done;
  }
}
