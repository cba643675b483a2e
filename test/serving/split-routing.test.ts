// Overlap routing on real node processes (one full node from the model file, two sparse nodes
// from a shard folder), driven by the Session object's own routing code: a session whose
// masks in force one sparse node already holds decodes there, even when rendezvous hashing
// prefers the other node, and fetches nothing for them.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNode, type NodeProcess } from "../../cli/stack.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { keptNeuronsOfState } from "../../shared/dart/state-masks.ts";
import { fromBase64 } from "../../shared/serving/base64.ts";
import type { NodeEvent, NodeTurnRequest, ReportedEvent, TurnDart, TurnDone, TurnStart } from "../../shared/serving/protocol.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { routeTurn, type RouteHint, type SplitEnv } from "../../workers/session/split-turn.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { servingShardSet, type TempShardSet } from "../weights/shard-set.ts";

const TOKEN = randomBytes(16).toString("hex");
const opts = { apiKeys: [], modelPath: dataPath("stories260K.bin"), persistDir: "" };
let shardSet: TempShardSet | undefined;
let full: NodeProcess, a: NodeProcess, b: NodeProcess;

beforeAll(async () => {
  shardSet = await servingShardSet();
  const shards = shardSet.dir;
  [full, a, b] = await Promise.all([
    startNode("full", opts, () => {}, TOKEN),
    startNode("sparse-a", opts, () => {}, TOKEN, 0, "", shards, "sparse"),
    startNode("sparse-b", opts, () => {}, TOKEN, 0, "", shards, "sparse"),
  ]);
}, 180_000);
afterAll(async () => {
  await Promise.all([full, a, b].map((n) => n?.stop()));
  shardSet?.remove();
});

/** A signed session key whose rendezvous order puts `first` first. */
async function keyPreferring(first: NodeProcess): Promise<string> {
  for (let i = 0; ; i++) {
    const key = await signSessionKey(`routing-${i}`, TOKEN);
    if (rankNodes([a.url, b.url], key)[0] === first.url) return key;
  }
}

async function turn(sessionKey: string, text: string, hint: RouteHint) {
  const env = { NODES: full.url, SPARSE_NODES: `${a.url},${b.url}`, NODE_TOKEN: TOKEN, PREFILL_MODE: "kv" } satisfies SplitEnv;
  const req: NodeTurnRequest = { sessionKey, tenant: "t", context: [], segments: [{ text }], maxTokens: 8, temperature: 0, topP: 1, seed: 1, dart: { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: 0.5 }, prunerState: "" };
  const routed = await routeTurn(env, req, 30_000, () => Promise.reject(new Error("not a split turn")), () => null, null, hint);
  if (routed instanceof Response) throw new Error(`refused: ${await routed.text()}`);
  const events = (await routed.opened.response.text()).trim().split("\n").map((l) => JSON.parse(l) as NodeEvent);
  const start = events.find((e): e is TurnStart => e.type === "start")!;
  const done = events.find((e): e is TurnDone => e.type === "done")!;
  expect(done, JSON.stringify(events.at(-1))).toBeDefined();
  const lead = routed.lead(start).map((l) => l.event);
  const built = lead.find((e: ReportedEvent) => e.kind === "mask" && !e.remask)!;
  return { node: start.node, built, kept: keptNeuronsOfState(fromBase64(done.pruner.state)), dartEvents: events.filter((e): e is TurnDart => e.type === "dart") };
}

describe("routing by mask overlap", () => {
  it("decodes where the session's masks already are, against the rendezvous choice, fetching nothing", async () => {
    const text = "Once upon a time there was a little cat who liked to play in the sun";
    // A session that rendezvous hashing sends to A, with no masks known: A fetches its masks.
    const first = await turn(await keyPreferring(a), text, {});
    expect(first.node).toBe("sparse-a");
    expect(first.built).toMatchObject({ routedBy: "rendezvous", decodedBy: "sparse-a" });
    expect(first.built.bytesFetched).toBeGreaterThan(0);
    // A session that rendezvous hashing sends to B, whose masks in force are those A holds.
    const second = await turn(await keyPreferring(b), text, { kept: first.kept });
    expect(second.node).toBe("sparse-a");
    expect(second.built).toMatchObject({ routedBy: "overlap", decodedBy: "sparse-a", bytesFetched: 0 });
    // The same session with nothing known goes where hashing says, and B fetches the masks.
    const third = await turn(await keyPreferring(b), text, {});
    expect(third.node).toBe("sparse-b");
    expect(third.built.bytesFetched).toBeGreaterThan(0);
  });
});
