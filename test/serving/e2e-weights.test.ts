// The stack's nodes load the model from the weight store: dart serve's launcher seeds
// wrangler dev's local R2 bucket with the model's neuron shards, and each node reads the
// manifest, the base blob and every shard through the gateway's /weights route (workerd,
// local R2), verifying sha256s. Real processes, real stories260K.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import OpenAI from "openai";
import { startStack } from "../../cli/stack.ts";
import { localBucket, seedLocalWeights } from "../../cli/weights-seed.ts";
import { parseDartSettings } from "../../shared/dart/settings.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import { generate } from "../../shared/engine/generate.ts";
import type { NodeEvent, TurnDone, TurnStart } from "../../shared/serving/protocol.ts";
import { parseManifest } from "../../shared/weights/manifest.ts";
import { KvCache } from "../../workers/node/kv-cache.ts";
import { runTurn } from "../../workers/node/run-turn.ts";
import type { TurnWeightStats } from "../../workers/node/node-weights.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";
import { shardCacheDir } from "../../cli/weights-seed.ts";
import { KEY_A, MODEL, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

const { tf, tok } = stories();
setTokenizer(tf, tok);
const SHARDS = shardCacheDir(dataPath("stories260K.bin"), 1);

interface NodeStats {
  turns: { sessionKey: string; weights?: TurnWeightStats }[];
  weights: null | {
    source: string;
    ffnShards: number;
    ffnBytes: number;
    baseBytes: number;
    verifiedBytesAtLoad: number;
    store: { bytesFetched: number; shardsFetched: number; cacheHits: number; refetches: number; residentBytes: number };
  };
}
const nodeStats = async (url: string) => (await (await fetch(`${url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as NodeStats;

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1 }); // nodeWeights defaults to "store"
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

describe("nodes on the weight store", () => {
  it("the launcher seeded local R2 and the node loaded base and every shard from it over HTTP, verified", async () => {
    expect(f.stack.logs()).toMatch(/weights: seeded \d+ objects \(\d+ B\) into local R2 under stories260K\//);
    const manifest = parseManifest(readFileSync(join(SHARDS, "manifest.json"), "utf8"));
    const ffnBytes = manifest.layers.flat().reduce((n, r) => n + r.bytes, 0);
    const s = await nodeStats(f.stack.nodes[0]!.url);
    expect(s.weights).not.toBeNull();
    const w = s.weights!;
    expect(w.source).toBe(`http ${f.stack.url}/weights/stories260K/`);
    expect(w.ffnShards).toBe(manifest.layers.flat().length);
    expect(w.ffnBytes).toBe(ffnBytes);
    expect(w.baseBytes).toBe(manifest.base.bytes);
    expect(w.store.shardsFetched).toBe(w.ffnShards); // each shard fetched once, none refetched
    expect(w.store.refetches).toBe(0);
    expect(w.verifiedBytesAtLoad).toBe(manifest.base.bytes + manifest.tokenizer!.bytes + ffnBytes);
    // The route is for nodes: no token (or an API key) gets nothing.
    expect((await fetch(`${f.stack.url}/weights/stories260K/manifest.json`)).status).toBe(401);
    expect((await fetch(`${f.stack.url}/weights/stories260K/manifest.json`, { headers: { authorization: `Bearer ${KEY_A}` } })).status).toBe(401);
  });

  it("answers exactly as the model file does: a dense chat and a 3-turn DART conversation", async () => {
    const dense = await f.client().chat.completions.create({ model: MODEL, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 24, temperature: 0, dart: { method: "dense" } } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(dense.choices[0]!.message.content).toBe(generate(tf, tok, "Once upon a time", { maxTokens: 24, temperature: 0 }).completion);

    // The same conversation run in-process on the file-loaded model (the plain template sends each message as is).
    const dart = parseDartSettings({ method: "dart", sparsity: 0.5 });
    const cache = new KvCache(64 << 20);
    let state = "";
    const context: number[][] = [];
    let session: string | undefined;
    for (const content of ["Once upon a time there was a little cat", "The president said that the economy of the nation", "Lily went to the park with her dog"]) {
      const events: NodeEvent[] = [];
      runTurn({ name: "file", tf, tok, cache }, { sessionKey: "s", context, segments: [{ text: content }], maxTokens: 32, temperature: 0, topP: 1, seed: 0, dart, prunerState: state }, (e) => events.push(e), () => false);
      const done = events.find((e) => e.type === "done") as TurnDone;
      const start = events.find((e) => e.type === "start") as TurnStart;
      context.push(...start.segmentIds, done.completionIds);
      state = done.pruner.state;

      const r = await f.client().chat.completions.create({
        model: MODEL, messages: [{ role: "user", content }], max_tokens: 32, temperature: 0,
        ...(session ? { session_id: session } : { dart: { method: "dart", sparsity: 0.5 } }),
      } as OpenAI.ChatCompletionCreateParamsNonStreaming);
      session = (r as unknown as { session_id: string }).session_id;
      expect(r.choices[0]!.message.content).toBe(done.completion);
    }
    // Every turn made the whole FFN resident first (dart traces each new prefill densely);
    // with the default unlimited budget everything stayed resident: no bytes per turn.
    const turns = (await nodeStats(f.stack.nodes[0]!.url)).turns.slice(-3);
    for (const t of turns) expect(t.weights).toMatchObject({ need: "all", shardsNeeded: 860, bytesFetched: 0, cacheHits: 860 });
    expect(turns.every((t) => t.weights!.layersBuilt > 0)).toBe(true);
  });
});

describe("a corrupted shard in local R2", () => {
  it("is refused: the node never starts serving and says which object failed verification", async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "dart-corrupt-"));
    try {
      const seeded = await seedLocalWeights({ modelPath: dataPath("stories260K.bin"), persistDir });
      const key = `${seeded.prefix}/ffn/2/17.bin`;
      const bucket = await localBucket(persistDir);
      try {
        const good = (await bucket.get(key))!;
        const bad = good.slice();
        bad[100]! ^= 0x40; // one flipped bit in a gate weight
        await bucket.put(key, bad);
      } finally {
        await bucket.close();
      }
      const start = startStack({ apiKeys: [KEY_A], nodes: 1, modelPath: dataPath("stories260K.bin"), persistDir });
      await expect(start).rejects.toThrow(/could not load its model: weight object ffn\/2\/17\.bin from http \S+ failed verification twice \(sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}\); refusing to use it/);
    } finally {
      rmSync(persistDir, { recursive: true, force: true });
    }
  }, 180_000);
});
