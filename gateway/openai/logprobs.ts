// Token log-probabilities in OpenAI's two shapes: chat (`{content: [{token, logprob, bytes,
// top_logprobs}], refusal}`) and legacy completions (`{tokens, token_logprobs, top_logprobs,
// text_offset}`). null when the request did not ask for logprobs.
import type { ReportedLogprob } from "../../shared/serving/protocol.ts";
import type { GenerationRequest } from "../validation/generation.ts";

export function logprobsObject(kind: GenerationRequest["kind"], lps: ReportedLogprob[] | null) {
  if (lps === null) return null;
  if (kind === "chat") {
    return {
      content: lps.map((l) => ({
        token: l.token,
        logprob: l.logprob,
        bytes: l.bytes,
        top_logprobs: l.top.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })),
      })),
      refusal: null,
    };
  }
  return {
    tokens: lps.map((l) => l.token),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((t) => [t.token, t.logprob]))),
    text_offset: lps.map((l) => l.offset),
  };
}
