// Per-turn traffic between the Session object and the real node: the session names its
// pruner state by version and the node, holding the state its last turn produced, uses it
// without the state crossing again; a node that lost it answers state_not_cached and gets
// the state resent within the same turn. Bytes of both directions are logged per turn.
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../gateway/middleware/auth.ts";
import { sessionStub } from "../../gateway/session-stub.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import type { SessionObject } from "../../workers/session/session-object.ts";
import { KEY } from "./keys.ts";

async function chat(content: string, session?: string) {
  const r = await SELF.fetch("https://gateway.test/v1/chat/completions", {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ model: "stories260K", messages: [{ role: "user", content }], max_tokens: 8, temperature: 0, ...(session ? { session_id: session } : {}) }),
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { session_id: string }).session_id;
}

interface View {
  dart: { state: { version: string; bytes: number }; stats: { tokens: number } };
  transfer: { turns: { turn: number; sent_bytes: number; received_bytes: number; state_sent: boolean }[]; sent_bytes: number; received_bytes: number };
}
const view = async (id: string) => (await (await SELF.fetch(`https://gateway.test/v1/sessions/${id}`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as View;
const nodeUrl = () => env.NODES.split(",")[0]!.trim();
const nodeAuth = (): Record<string, string> => (env.NODE_TOKEN ? { authorization: `Bearer ${env.NODE_TOKEN}` } : {});
const nodeStats = async () => (await fetch(`${nodeUrl()}/stats`, { headers: nodeAuth() })).json();
const nodeStates = async () => ((await nodeStats()) as { states: { hits: number; misses: number; entries: number } }).states;

describe("pruner state soft cache on the node", () => {
  it("an unchanged node gets the state's version only; a node that lost it gets the state resent in the same turn", async () => {
    const id = await chat("Once upon a time");
    const v1 = await view(id);
    expect(v1.transfer.turns).toHaveLength(1);
    expect(v1.transfer.turns[0]!.state_sent).toBe(false); // nothing to send on a first turn
    // The node's answer carried the state (base64) back: received bytes cover it.
    expect(v1.transfer.turns[0]!.received_bytes).toBeGreaterThan((v1.dart.state.bytes * 4) / 3);

    const before = await nodeStates();
    await chat("The dog", id);
    const v2 = await view(id);
    const t2 = v2.transfer.turns[1]!;
    expect(t2.state_sent).toBe(false);
    expect(t2.sent_bytes).toBeLessThan((v1.dart.state.bytes * 4) / 3); // the request is smaller than the state alone
    const after = await nodeStates();
    expect(after.hits).toBe(before.hits + 1);
    expect(v2.dart.state.version).not.toBe(v1.dart.state.version);

    // The node forgets the session (as a restarted node would): the next turn resends the state.
    const objectId = await runInDurableObject(sessionStub(env, (await sha256Hex(KEY)).slice(0, 32), id), (_o: SessionObject, state) => state.id.toString());
    const key = await signSessionKey(objectId, env.NODE_TOKEN);
    expect((await fetch(`${nodeUrl()}/v1/sessions/${encodeURIComponent(key)}`, { method: "DELETE", headers: nodeAuth() })).status).toBe(200);
    await chat("The cat", id);
    const v3 = await view(id);
    const t3 = v3.transfer.turns[2]!;
    expect(t3.state_sent).toBe(true);
    expect(t3.sent_bytes).toBeGreaterThan((v2.dart.state.bytes * 4) / 3);
    expect((await nodeStates()).misses).toBe(after.misses + 1);
    // The node continued the resent state: the pruner's token count goes on from turn 2's.
    const turns = ((await nodeStats()) as { turns: { sessionKey: string; ffnTokens: number }[] }).turns;
    const last = turns.filter((t) => t.sessionKey === key).at(-1)!;
    expect(v3.dart.stats.tokens).toBe(v2.dart.stats.tokens + last.ffnTokens);
    expect(v3.transfer.sent_bytes).toBe(v3.transfer.turns.reduce((n, t) => n + t.sent_bytes, 0));
  });
});
