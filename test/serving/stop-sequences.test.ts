// Stop sequences on decoded text: the matcher alone, then runTurn on the real model, where the
// stop string spans token boundaries of the model's own greedy output.
import { describe, expect, it } from "vitest";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import { generate } from "../../shared/engine/generate.ts";
import type { NodeEvent, NodeTurnRequest, TurnDone, TurnText } from "../../shared/serving/protocol.ts";
import { StopMatcher } from "../../shared/serving/stop-sequences.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { runTurn } from "../../workers/node/run-turn.ts";
import { stories } from "../helpers/model-dir.ts";

const { tf, tok } = stories();

describe("StopMatcher", () => {
  it("holds back only a possible partial match and never releases the stop sequence", () => {
    const m = new StopMatcher(["END", "xyz"]);
    expect(m.push("abc E")).toBe("abc "); // "E" may start END
    expect(m.push("N")).toBe(""); // "EN" still may
    expect(m.push("Dless")).toBe("");
    expect(m.stopped).toBe(true);
    expect(m.released).toBe(4);
    expect(m.flush()).toBe("");
  });

  it("releases a held-back tail once it can no longer match, or at the end", () => {
    const m = new StopMatcher(["END"]);
    expect(m.push("hi E")).toBe("hi ");
    expect(m.push("x")).toBe("Ex");
    expect(m.push(" EN")).toBe(" ");
    expect(m.flush()).toBe("EN");
    expect(m.stopped).toBe(false);
  });

  it("stops at the earliest of several matches, also inside one piece", () => {
    const m = new StopMatcher(["cd", "b"]);
    expect(m.push("abcd")).toBe("a");
    const n = new StopMatcher(["aab"]);
    expect(n.push("aaaab!")).toBe("aa"); // the overlapping start is found
  });
});

function turn(req: Partial<NodeTurnRequest>) {
  const events: NodeEvent[] = [];
  const full: NodeTurnRequest = {
    sessionKey: "s",
    context: [],
    segments: [{ text: "Once upon a time" }],
    maxTokens: 40,
    temperature: 0,
    topP: 1,
    seed: 1,
    dart: { ...DEFAULT_DART_SETTINGS, method: "dense" },
    prunerState: "",
    ...req,
  };
  const record = runTurn({ name: "t", tf, tok, cache: new KvCache(64 << 20) }, full, (e) => events.push(e), () => false);
  const texts = events.filter((e): e is TurnText => e.type === "text");
  return { record, texts, done: events.find((e): e is TurnDone => e.type === "done"), error: events.find((e) => e.type === "error") };
}

describe("runTurn with stop sequences and logprobs", () => {
  const plain = generate(tf, tok, "Once upon a time", { maxTokens: 40, temperature: 0 });
  // A stop string that crosses a token boundary: the last 2 characters of one token's text and the first 2 of the next.
  const pieces = plain.tokens.map((t, i) => new TextDecoder().decode(tok.tokenBytes(t, i === 0 ? plain.promptIds.at(-1)! : plain.tokens[i - 1]!)));
  const k = pieces.findIndex((p, i) => i > 3 && p.length >= 3 && (pieces[i + 1]?.length ?? 0) >= 3);
  const boundary = pieces.slice(0, k + 1).join("").length;
  const stop = plain.completion.slice(boundary - 2, boundary + 2);
  const cut = plain.completion.indexOf(stop);

  it("cuts the completion before the first match, streams none of it, and finishes with stop", () => {
    expect(cut).toBeGreaterThan(0);
    const t = turn({ sampling: { stop: ["never-there", stop] } });
    expect(t.done!.completion).toBe(plain.completion.slice(0, cut));
    expect(t.texts.map((e) => e.text).join("")).toBe(plain.completion.slice(0, cut));
    expect(t.done!.finishReason).toBe("stop");
    expect(t.record.stopReason).toBe("stop");
    // Generation ended at the token completing the match; its ids are kept (what the model said).
    expect(t.done!.completionIds).toEqual(plain.tokens.slice(0, k + 2));
  });

  it("reports one logprob per token whose text starts before the stop, attached where that text is sent", () => {
    const t = turn({ sampling: { stop: [stop], topLogprobs: 2 } });
    const lps = t.texts.flatMap((e) => e.logprobs ?? []);
    expect(lps.map((l) => l.offset)).toEqual(lps.map((_, i) => pieces.slice(0, i).join("").length));
    expect(lps.length).toBe(pieces.filter((_, i) => pieces.slice(0, i).join("").length < cut).length);
    expect(lps.map((l) => l.token).join("")).toBe(pieces.slice(0, lps.length).join(""));
    for (const l of lps) {
      expect(l.top).toHaveLength(2);
      expect(l.top[0]!.token).toBe(l.token); // greedy
      expect(new TextDecoder().decode(Uint8Array.from(l.bytes))).toBe(l.token);
    }
  });

  it("a stop sequence that never appears changes nothing", () => {
    const t = turn({ sampling: { stop: ["\u0000zz"] } });
    expect(t.done!.completion).toBe(plain.completion);
    expect(t.done!.finishReason).toBe("length");
  });

  it("refuses a logit_bias token outside the vocabulary as a client error", () => {
    const t = turn({ sampling: { logitBias: { "99999": 1 } } });
    expect(t.error).toMatchObject({ status: 400, param: "logit_bias" });
  });
});
