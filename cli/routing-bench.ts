// `dart routing-bench` core, in-process on real node code: 16 concurrent sessions of mixed
// topics (TinyStories, State of the Union, and some that switch every turn) traced on a full
// node and decoded on one of two sparse nodes, chosen by mask overlap (overlap-routing.ts) or
// by rendezvous hashing. As in the Session object, the node is chosen before the trace (so the
// full node can push the handoff there) from the masks in force. Both policies run the same conversations side by side in one run, each
// on its own pair of sparse nodes over the same shard set; the figure is the bytes the sparse
// nodes fetch from the weight store per turn. Sessions run in rounds (every session's turn r,
// then r+1): a round's turns are in flight together, so a node's load is the round's turns
// already sent to it.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_DART_SETTINGS, type DartSettings } from "../shared/dart/index.ts";
import { setTokenizer } from "../shared/dart/priors.ts";
import { keptNeuronsOfState } from "../shared/dart/state-masks.ts";
import { fromBase64 } from "../shared/serving/base64.ts";
import { rankByOverlap } from "../shared/serving/overlap-routing.ts";
import { rankNodes } from "../shared/serving/rendezvous.ts";
import type { NodeEvent, NodeTraceResult, NodeTurnRequest, TurnDone, TurnStart } from "../shared/serving/protocol.ts";
import { openModelFromStore } from "../shared/weights/open-model.ts";
import { FolderSource } from "../workers/weights/folder-source.ts";
import { KvCache } from "../workers/node/kv-cache.ts";
import { residentNeuronBits } from "../workers/node/residency.ts";
import { runTurn, type NodeEngine } from "../workers/node/run-turn.ts";
import { SparseFfn } from "../workers/node/sparse-ffn.ts";
import { runTrace } from "../workers/node/trace.ts";
import { loadBundle } from "./model-files.ts";
import { shardModelToFolder } from "./weights-seed.ts";

export type Policy = "overlap" | "rendezvous";
type Topic = "story" | "speech";

export interface RoutingBenchOptions {
  sessions: number;
  turns: number;
  maxTokens: number;
  sparsity: number;
  /** Each sparse node's resident FFN budget as a share of the FFN (Infinity: unlimited). */
  budgetShare: number;
}

export interface PolicyResult {
  policy: Policy;
  /** Bytes fetched by both sparse nodes over all turns, and per turn. */
  bytesFetched: number;
  meanBytesPerTurn: number;
  medianBytesPerTurn: number;
  /** The same over turns 2 and later (turn 1 fetches every session's first masks). */
  meanBytesPerLaterTurn: number;
  meanShareOfFfnPerTurn: number;
  /** Fetched bytes per round (every session's turn r). */
  bytesPerRound: number[];
  /** Turns each sparse node decoded, and its resident FFN bytes at the end. */
  turnsPerNode: number[];
  residentBytesPerNode: number[];
  /** Turns that decoded on a node other than the session's previous one (its KV cache lost). */
  moves: number;
}

export interface RoutingBenchResult {
  model: string;
  ffnBytes: number;
  budgetBytes: number | null;
  options: RoutingBenchOptions;
  /** Whether both policies generated the same tokens (the KV handoff makes decoding node-independent). */
  sameCompletions: boolean;
  policies: PolicyResult[];
  /** Overlap routing's bytes over rendezvous hashing's. */
  overlapOverRendezvous: number;
}

function passages(dir: string, n: number): Record<Topic, string[]> {
  const cut = (s: string) => s.split(/\s+/).slice(0, 24).join(" ");
  const stories = readFileSync(join(dir, "tinystories-valid-dev.txt"), "utf8").split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length > 80);
  const sotu = readFileSync(join(dir, "sotu-2016-2019.txt"), "utf8").split(/(?<=\.)\s+/).filter((s) => s.length > 60);
  if (stories.length < n || sotu.length < n) throw new Error(`the evaluation texts in ${dir} hold fewer than ${n} passages per topic`);
  return { story: stories.slice(0, n).map(cut), speech: sotu.slice(0, n).map(cut) };
}

/** Session s's topic on turn t: stories, speeches, and every fourth session switching each turn. */
const topicOf = (s: number, t: number): Topic => (s % 4 === 3 ? (t % 2 === 0 ? "story" : "speech") : s % 2 === 0 ? "story" : "speech");

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function routingBench(modelPath: string, dataDir: string, opts: RoutingBenchOptions): Promise<RoutingBenchResult> {
  const { transformer: tf, tokenizer: tok } = loadBundle(modelPath);
  setTokenizer(tf, tok);
  const dir = mkdtempSync(join(tmpdir(), "dart-routing-bench-"));
  try {
    await shardModelToFolder(modelPath, dir, { neuronsPerShard: 1 });
    const folder = new FolderSource(dir);
    const texts = passages(dataDir, opts.sessions * opts.turns);
    const dart: DartSettings = { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: opts.sparsity };
    let ffnBytes = 0;
    let budgetBytes: number | null = null;
    const completions = new Map<Policy, string[]>();
    const policies: PolicyResult[] = [];
    for (const policy of ["overlap", "rendezvous"] as const) {
      const full: NodeEngine = { name: "full", tf, tok, cache: new KvCache(256 << 20) };
      const nodes = await Promise.all(
        ["sparse-a", "sparse-b"].map(async (name) => {
          const probe = await openModelFromStore(folder, { denseFfn: false });
          const ffn = probe.store.manifest.layers.flat().reduce((n, r) => n + r.bytes, 0);
          const budget = Number.isFinite(opts.budgetShare) ? Math.floor(ffn * opts.budgetShare) : Infinity;
          const m = Number.isFinite(budget) ? await openModelFromStore(folder, { denseFfn: false, budgetBytes: budget }) : probe;
          ffnBytes = ffn;
          budgetBytes = Number.isFinite(budget) ? budget : null;
          const sparse = new SparseFfn(m.store, m.transformer);
          const engine: NodeEngine = { name, tf: m.transformer, tok: m.tokenizer!, cache: new KvCache(256 << 20), role: "sparse" };
          return { name, sparse, engine, turns: 0 };
        }),
      );
      const names = nodes.map((n) => n.name);
      const sessions = Array.from({ length: opts.sessions }, (_, i) => ({ key: `session-${i}`, context: [] as number[][], state: "", last: null as string | null }));
      const fetched: number[][] = [];
      const outs: string[] = [];
      let moves = 0;
      for (let t = 0; t < opts.turns; t++) {
        const round: number[] = [];
        const load = new Map(names.map((n) => [n, 0]));
        for (const [i, s] of sessions.entries()) {
          const text = texts[topicOf(i, t)][i * opts.turns + t]!;
          const base: NodeTurnRequest = { sessionKey: s.key, context: s.context, segments: [{ text }], maxTokens: opts.maxTokens, temperature: 0, topP: 1, seed: 1, dart, prunerState: s.state };
          // The node is chosen before the trace, as the Session object does (the full node pushes the handoff there): by the masks in force.
          let order: string[];
          if (policy === "overlap") {
            const kept = s.state ? keptNeuronsOfState(fromBase64(s.state)) : null;
            const residency = new Map(nodes.map((n) => [n.name, { bits: residentNeuronBits(n.sparse.store, tf.config.nLayers, tf.config.hiddenDim), load: load.get(n.name)! }]));
            order = rankByOverlap({ nodes: names, sessionKey: s.key, need: kept?.bits ?? null, residency, lastNode: s.last, neededNeurons: kept?.count }).order;
          } else order = rankNodes(names, s.key);
          const trace = runTrace(full, { ...base, kvFrom: 1 + s.context.flat().length }) as NodeTraceResult;
          if (trace.type !== "trace") throw new Error(`trace failed: ${JSON.stringify(trace)}`);
          const node = nodes.find((n) => n.name === order[0])!;
          load.set(node.name, load.get(node.name)! + 1);
          if (s.last !== null && s.last !== node.name) moves++;
          s.last = node.name;
          node.turns++;
          const req: NodeTurnRequest = { ...base, prunerState: trace.state, trace: { node: "full", prior: trace.prior, kv: trace.kv } };
          node.engine.prunerOptions = await node.sparse.prepare(req);
          const events: NodeEvent[] = [];
          runTurn(node.engine, req, (e) => void events.push(e), () => false, node.sparse.fetchedSincePrepare());
          round.push(node.sparse.finish().bytesFetched);
          const start = events.find((e): e is TurnStart => e.type === "start");
          const done = events.find((e): e is TurnDone => e.type === "done");
          if (!start || !done) throw new Error(`session ${i} turn ${t + 1} on ${node.name} did not finish: ${JSON.stringify(events.find((e) => e.type === "error"))}`);
          s.context = [...s.context, ...start.segmentIds, done.completionIds];
          s.state = done.pruner.state;
          outs.push(done.completion);
        }
        fetched.push(round);
      }
      completions.set(policy, outs);
      const all = fetched.flat();
      const later = fetched.slice(1).flat();
      policies.push({
        policy,
        bytesFetched: all.reduce((a, b) => a + b, 0),
        meanBytesPerTurn: all.reduce((a, b) => a + b, 0) / all.length,
        medianBytesPerTurn: median(all),
        meanBytesPerLaterTurn: later.length ? later.reduce((a, b) => a + b, 0) / later.length : 0,
        meanShareOfFfnPerTurn: all.reduce((a, b) => a + b, 0) / all.length / ffnBytes,
        bytesPerRound: fetched.map((r) => r.reduce((a, b) => a + b, 0)),
        turnsPerNode: nodes.map((n) => n.turns),
        residentBytesPerNode: nodes.map((n) => n.sparse.residentBytes),
        moves,
      });
    }
    const [o, r] = policies;
    return {
      model: modelPath,
      ffnBytes,
      budgetBytes,
      options: opts,
      sameCompletions: JSON.stringify(completions.get("overlap")) === JSON.stringify(completions.get("rendezvous")),
      policies,
      overlapOverRendezvous: r!.bytesFetched ? o!.bytesFetched / r!.bytesFetched : 0,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

