// A real inference node with a token, probed as an attacker who can reach it would probe it:
// its KV cache cannot be named (so not compared against) without the node token, its stats
// and metrics need a bearer, and malformed turns are 400s, never 500s.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { dataPath } from "../helpers/model-dir.ts";

const TOKEN = randomBytes(16).toString("hex");
const METRICS = randomBytes(16).toString("hex");
let node: NodeProcess;

beforeAll(async () => {
  node = await startNode("secure-node", { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" }, () => {}, TOKEN, 0, METRICS);
}, 120_000);
afterAll(async () => {
  await node?.stop();
});

const turnBody = (sessionKey: string, text: string, extra: Record<string, unknown> = {}) => ({
  sessionKey,
  context: [],
  segments: [{ text }],
  maxTokens: 2,
  temperature: 0,
  topP: 1,
  seed: 1,
  dart: { ...DEFAULT_DART_SETTINGS, method: "dense" },
  prunerState: "",
  ...extra,
});

async function turn(body: unknown, token = TOKEN) {
  const r = await fetch(`${node.url}/v1/turn`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const text = await r.text();
  const lines = r.headers.get("content-type")?.includes("ndjson") ? text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  return { status: r.status, json: lines.length ? null : (JSON.parse(text) as { error: { code: string; param: string | null } }), events: lines };
}

describe("the KV cache is not a prefix oracle", () => {
  it("serves a signed session key, and refuses unsigned or forged ones before comparing any token", async () => {
    const victim = "victim-session-id";
    const secret = "My secret password is hunter2";
    const signed = await signSessionKey(victim, TOKEN);
    const first = await turn(turnBody(signed, secret));
    expect(first.status).toBe(200);
    // The same session's next turn reuses its cache (the cache works for its owner).
    const again = await turn(turnBody(signed, secret + "!"));
    expect(again.events[0]).toMatchObject({ type: "start" });
    expect(again.events[0]!.cachedTokens as number).toBeGreaterThan(5);
    // Someone who knows (or read) the victim's key, but not the node token, gets nothing to compare.
    for (const key of [victim, `${victim}.${"0".repeat(64)}`, await signSessionKey(victim, "another-secret"), signed + "x"]) {
      const probe = await turn(turnBody(key, secret));
      expect(probe.status).toBe(403);
      expect(probe.json!.error.code).toBe("invalid_session_key");
      expect(probe.events).toEqual([]);
    }
    // Nor can they drop it.
    const drop = await fetch(`${node.url}/v1/sessions/${encodeURIComponent(victim)}`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(drop.status).toBe(403);
    const bad = await fetch(`${node.url}/v1/sessions/%E0%A4%A`, { method: "DELETE", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(bad.status).toBe(400);
  });

  it("needs the node token for turns and the metrics or node token for /stats and /metrics", async () => {
    expect((await turn(turnBody(await signSessionKey("s", TOKEN), "Hi"), "wrong")).status).toBe(401);
    for (const path of ["/stats", "/metrics"]) {
      expect((await fetch(`${node.url}${path}`)).status).toBe(401);
      expect((await fetch(`${node.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      for (const t of [METRICS, TOKEN]) {
        const r = await fetch(`${node.url}${path}`, { headers: { authorization: `Bearer ${t}` } });
        expect(r.status).toBe(200);
        await r.body?.cancel();
      }
    }
    expect((await fetch(`${node.url}/healthz`)).status).toBe(200);
  });
});

describe("malformed turns are 400s", () => {
  it.each([
    ["dart: null", { dart: null }, "dart"],
    ["a token id at the vocabulary size", { context: [[1, 2, 512]] }, "context"],
    ["a negative token id", { context: [[-1]] }, "context"],
    ["a prunerState that is not base64", { prunerState: "not base64!!" }, "prunerState"],
    ["a prunerState with a bad length", { prunerState: "abc" }, "prunerState"],
  ])("%s", async (_name, extra, param) => {
    const r = await turn(turnBody(await signSessionKey("bad-input", TOKEN), "Hi", extra));
    expect(r.status).toBe(400);
    expect(r.json!.error.param).toBe(param);
    // The node is unharmed.
    expect((await turn(turnBody(await signSessionKey("after-bad-input", TOKEN), "Hi"))).status).toBe(200);
  });
});
