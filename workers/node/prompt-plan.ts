// The prompt of a turn as a node sees it: the new messages tokenized, the oldest history
// left out until everything fits, BOS first. A trace and the decode that follows it run
// this same function, so both nodes agree on every position.
import { ContextOverflowError, fitContext } from "../../shared/serving/context-window.ts";
import type { NewSegment, TurnError } from "../../shared/serving/protocol.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";

export interface PromptPlan {
  segmentIds: number[][];
  dropped: number;
  maxTokens: number;
  promptIds: number[];
  /** Position of the first token of the new messages (what a trace traces). */
  newFrom: number;
  /** Tokens of the history still in context (0: the turn is the conversation's start, BOS included). */
  historyTokens: number;
}

export function clientError(message: string, param: string | null, code: string | null): TurnError {
  return { type: "error", status: 400, message, param, code };
}

export function planPrompt(tok: Tokenizer, seqLen: number, req: { context: number[][]; segments: NewSegment[]; maxTokens: number | null }): PromptPlan | TurnError {
  const segmentIds = req.segments.map((s) => tok.encode(s.text, { bos: false }));
  let fit;
  try {
    fit = fitContext(req.context.map((c) => c.length), segmentIds.map((s) => s.length), req.maxTokens, seqLen);
  } catch (e) {
    if (!(e instanceof ContextOverflowError)) throw e;
    return clientError(e.message, "messages", "context_length_exceeded");
  }
  const history = req.context.slice(fit.dropped).flat();
  const bos = tok.addBos ? [tok.bosId] : [];
  const promptIds = [...bos, ...history, ...segmentIds.flat()];
  return { segmentIds, dropped: fit.dropped, maxTokens: fit.maxTokens, promptIds, newFrom: bos.length + history.length, historyTokens: history.length };
}
