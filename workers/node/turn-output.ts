// What a turn sends back as it generates: text cut at the first stop sequence (held back only
// while it may still be the start of one), and each token's log-probability attached to the
// text event in which that token's text begins.
import type { TokenLogprob } from "../../shared/engine/logit-controls.ts";
import type { ReportedLogprob, TurnText } from "../../shared/serving/protocol.ts";
import { StopMatcher } from "../../shared/serving/stop-sequences.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";

const utf8 = new TextDecoder("utf-8");

export class TurnOutput {
  private readonly tok: Tokenizer;
  private readonly emit: (e: TurnText) => void;
  private readonly matcher: StopMatcher;
  /** Logprobs of tokens whose text has not been released yet. */
  private queue: ReportedLogprob[] = [];
  /** Characters generated so far (released or held back). */
  private generated = 0;
  private prev: number;
  /** The completion as the client sees it. */
  completion = "";

  constructor(tok: Tokenizer, stops: string[], lastPromptId: number, emit: (e: TurnText) => void) {
    this.tok = tok;
    this.matcher = new StopMatcher(stops);
    this.prev = lastPromptId;
    this.emit = emit;
  }

  get stopped(): boolean {
    return this.matcher.stopped;
  }

  /** A generated token (before its text); `lp` when logprobs were asked for. */
  token(id: number, lp: TokenLogprob | null): void {
    if (lp) {
      const piece = (t: number) => {
        const bytes = this.tok.tokenBytes(t, this.prev);
        return { token: utf8.decode(bytes), bytes: Array.from(bytes) };
      };
      this.queue.push({ ...piece(id), logprob: lp.logprob, offset: this.generated, top: lp.top.map((t) => ({ ...piece(t.id), logprob: t.logprob })) });
    }
    this.prev = id;
  }

  /** Decoded text of the tokens so far. */
  text(piece: string): void {
    this.generated += piece.length;
    this.send(this.matcher.push(piece), false);
  }

  /** Generation ended: release what was held back (nothing after a stop sequence). */
  finish(): void {
    this.send(this.matcher.flush(), !this.matcher.stopped);
  }

  private send(text: string, all: boolean): void {
    const released = this.matcher.released;
    const n = all ? this.queue.length : this.queue.findIndex((q) => q.offset >= released);
    const lps = this.queue.splice(0, n < 0 ? this.queue.length : n);
    if (this.matcher.stopped) this.queue = []; // tokens of the stop sequence itself are not reported
    if (text === "" && lps.length === 0) return;
    this.completion += text;
    this.emit(lps.length > 0 ? { type: "text", text, logprobs: lps } : { type: "text", text });
  }
}
