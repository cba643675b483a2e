// Platform-free serving pieces: context fitting, rendezvous hashing, chat templates, NDJSON.
import { describe, expect, it } from "vitest";
import { commonPrefix, ContextOverflowError, DEFAULT_MAX_TOKENS, fitContext } from "../../shared/serving/context-window.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";
import { parseChatTemplate, renderMessage, TRANSCRIPT_TEMPLATE } from "../../shared/serving/chat-template.ts";
import { NdjsonReader, ndjsonLine } from "../../shared/serving/ndjson.ts";
import { fromBase64, toBase64 } from "../../shared/serving/base64.ts";

describe("fitContext", () => {
  it("keeps everything when it fits", () => {
    expect(fitContext([10, 20], [5], 30, 100)).toEqual({ dropped: 0, maxTokens: 30 });
  });
  it("drops the oldest entries until BOS + history + new + completion fit", () => {
    // 1 + 40 + 30 + 20 + 10 + 10 = 111 > 100: dropping 40 gives 71.
    expect(fitContext([40, 30, 20], [10], 10, 100)).toEqual({ dropped: 1, maxTokens: 10 });
    // exactly full after dropping two: 1 + 20 + 10 + 69 = 100
    expect(fitContext([40, 30, 20], [10], 69, 100)).toEqual({ dropped: 2, maxTokens: 69 });
  });
  it("never drops new messages: too long a turn is an error", () => {
    expect(() => fitContext([], [90], 20, 100)).toThrow(ContextOverflowError);
  });
  it("without max_tokens, gives the default or what is left", () => {
    expect(fitContext([], [10], null, 1000)).toEqual({ dropped: 0, maxTokens: DEFAULT_MAX_TOKENS });
    expect(fitContext([50], [10], null, 100)).toEqual({ dropped: 1, maxTokens: 89 });
    expect(() => fitContext([], [99], null, 100)).toThrow(ContextOverflowError);
  });
  it("commonPrefix", () => {
    expect(commonPrefix([1, 2, 3], [1, 2, 4, 5])).toBe(2);
    expect(commonPrefix([], [1])).toBe(0);
    expect(commonPrefix([1, 2], [1, 2])).toBe(2);
  });
});

describe("rankNodes (rendezvous hashing)", () => {
  const nodes = ["http://a:1", "http://b:1", "http://c:1", "http://d:1"];
  const sessions = Array.from({ length: 2000 }, (_, i) => `session-${i}`);

  it("ranks every node once, deterministically", () => {
    const r = rankNodes(nodes, "s");
    expect([...r].sort()).toEqual([...nodes].sort());
    expect(rankNodes([...nodes].reverse(), "s")).toEqual(r);
  });
  it("spreads sessions roughly evenly", () => {
    const counts = new Map<string, number>();
    for (const s of sessions) counts.set(rankNodes(nodes, s)[0]!, (counts.get(rankNodes(nodes, s)[0]!) ?? 0) + 1);
    for (const n of nodes) expect(counts.get(n)).toBeGreaterThan(sessions.length / nodes.length / 1.3);
  });
  it("removing a node moves only its sessions, each to its own second choice", () => {
    const gone = nodes[1]!;
    const rest = nodes.filter((n) => n !== gone);
    for (const s of sessions) {
      const before = rankNodes(nodes, s);
      const after = rankNodes(rest, s)[0];
      expect(after).toBe(before[0] === gone ? before[1] : before[0]);
    }
  });
});

describe("chat templates", () => {
  it("plain renders the content as is; transcript adds roles and the assistant cue", () => {
    expect(renderMessage(parseChatTemplate("plain"), "user", "Once upon a time")).toBe("Once upon a time");
    expect(renderMessage(parseChatTemplate(undefined), "system", "x")).toBe("x");
    expect(renderMessage(TRANSCRIPT_TEMPLATE, "user", "hi")).toBe("User: hi\nAssistant:");
  });
  it("accepts a JSON template and rejects a broken one", () => {
    const t = parseChatTemplate('{"system":"<s>{content}","user":"[U]{content}[A]","assistant":"{content}</a>"}');
    expect(renderMessage(t, "user", "q")).toBe("[U]q[A]");
    expect(() => parseChatTemplate('{"user":"no placeholder"}')).toThrow(/CHAT_TEMPLATE/);
    expect(() => parseChatTemplate("nonsense")).toThrow(/CHAT_TEMPLATE/);
  });
});

describe("NDJSON and base64", () => {
  it("reads values split across chunks and a final line without newline", async () => {
    const bytes = new Uint8Array([...ndjsonLine({ a: 1 }), ...ndjsonLine({ b: "é" }), ...new TextEncoder().encode('{"c":3}')]);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 3) c.enqueue(bytes.subarray(i, i + 3));
        c.close();
      },
    });
    const r = new NdjsonReader<object>(body);
    expect([await r.next(), await r.next(), await r.next(), await r.next()]).toEqual([{ a: 1 }, { b: "é" }, { c: 3 }, null]);
  });
  it("cancel ends a pending read and cancels the source", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({ cancel: () => void (cancelled = true) });
    const r = new NdjsonReader<object>(body);
    const pending = r.next();
    await r.cancel();
    expect(await pending).toBeNull();
    expect(cancelled).toBe(true);
  });
  it("base64 round-trips binary", () => {
    const b = new Uint8Array(70_000).map((_, i) => (i * 31) & 255);
    expect(fromBase64(toBase64(b))).toEqual(b);
  });
});
