// `dart serve-bench --split` core, in-process on real node code: an 8-turn conversation that
// switches topic (TinyStories, State of the Union) traced on a full node and decoded on a
// sparse node; per turn the bytes the sparse node fetched, its resident FFN bytes, and the
// time to first token with the trace hop (trace + sparse prefill) against a single full node.
import { readFileSync } from "node:fs";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_DART_SETTINGS, type DartSettings } from "../shared/dart/index.ts";
import { setTokenizer } from "../shared/dart/priors.ts";
import { computeForwardProxy, downColumnNorms } from "../shared/dart/forward-proxy.ts";
import type { NodeEvent, NodeTraceResult, NodeTurnRequest, PrefillMode, TurnDone, TurnStart } from "../shared/serving/protocol.ts";
import { buildShardSet } from "../shared/weights/build.ts";
import { openModelFromStore } from "../shared/weights/open-model.ts";
import { FolderSource } from "../workers/weights/folder-source.ts";
import { KvCache } from "../workers/node/kv-cache.ts";
import { runTurn, type NodeEngine } from "../workers/node/run-turn.ts";
import { SparseFfn } from "../workers/node/sparse-ffn.ts";
import { runTrace } from "../workers/node/trace.ts";
import { loadBundle } from "./model-files.ts";
import { tokenizerData } from "./weights-seed.ts";

export interface SplitTurn {
  turn: number;
  topic: "story" | "speech";
  bytesFetched: number;
  fetchedShareOfFfn: number;
  residentFfnBytes: number;
  traceMs: number;
  /** Time to first token: trace + sparse prefill (split) vs prefill on one full node. */
  ttftSplitMs: number;
  ttftSingleMs: number;
  kvBytes: number;
}

function passages(dir: string): { story: string[]; speech: string[] } {
  const stories = readFileSync(join(dir, "tinystories-valid-dev.txt"), "utf8").split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length > 80);
  const sotu = readFileSync(join(dir, "sotu-2016-2019.txt"), "utf8").split(/(?<=\.)\s+/).filter((s) => s.length > 60);
  const cut = (s: string) => s.split(/\s+/).slice(0, 24).join(" ");
  return { story: stories.slice(0, 8).map(cut), speech: sotu.slice(0, 8).map(cut) };
}

export async function splitBench(modelPath: string, dataDir: string, opts: { sparsity: number; turns: number; maxTokens: number; mode: PrefillMode }): Promise<{ ffnBytes: number; turns: SplitTurn[] }> {
  const { model, transformer: tf, tokenizer: tok } = loadBundle(modelPath);
  setTokenizer(tf, tok);
  const dir = mkdtempSync(join(tmpdir(), "dart-split-bench-"));
  try {
    const folder = new FolderSource(dir);
    await buildShardSet(model, {
      neuronsPerShard: 1,
      tokenizer: tokenizerData(modelPath, undefined, model.config.vocabSize),
      forwardProxy: computeForwardProxy(model.config, model.weights),
      downNorms: downColumnNorms(model.config, model.weights),
    }, folder.put);
    const m = await openModelFromStore(folder, { denseFfn: false });
    const sparse = new SparseFfn(m.store, m.transformer);
    const sparseEngine: NodeEngine = { name: "sparse", tf: m.transformer, tok: m.tokenizer!, cache: new KvCache(256 << 20), role: "sparse" };
    const full: NodeEngine = { name: "full", tf, tok, cache: new KvCache(256 << 20) };
    const single: NodeEngine = { name: "single", tf, tok, cache: new KvCache(256 << 20) };
    const dart: DartSettings = { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: opts.sparsity };
    const p = passages(dataDir);
    const turns: SplitTurn[] = [];
    let state = "", singleState = "";
    const context: number[][] = [], singleContext: number[][] = [];
    for (let t = 0; t < opts.turns; t++) {
      const topic = t % 2 === 0 ? "story" : "speech";
      const text = p[topic][Math.floor(t / 2)]!;
      const base: NodeTurnRequest = { sessionKey: "bench", context, segments: [{ text }], maxTokens: opts.maxTokens, temperature: 0, topP: 1, seed: 1, dart, prunerState: state };
      const t0 = performance.now();
      const trace = runTrace(full, { ...base, kvFrom: opts.mode === "kv" ? 1 + context.flat().length : null }) as NodeTraceResult;
      const traceMs = performance.now() - t0;
      const req: NodeTurnRequest = { ...base, prunerState: trace.state, trace: { node: "full", prior: trace.prior, kv: trace.kv } };
      const t1 = performance.now();
      sparseEngine.prunerOptions = await sparse.prepare(req);
      const events: NodeEvent[] = [];
      let firstText = 0;
      runTurn(sparseEngine, req, (e) => { events.push(e); if (e.type === "text" && !firstText) firstText = performance.now(); }, () => false, sparse.fetchedSincePrepare());
      const w = sparse.finish();
      const start = events.find((e): e is TurnStart => e.type === "start")!;
      const done = events.find((e): e is TurnDone => e.type === "done")!;
      context.push(...start.segmentIds, done.completionIds);
      state = done.pruner.state;
      // The same turn on one full node.
      const s0 = performance.now();
      let singleFirst = 0;
      const sEvents: NodeEvent[] = [];
      runTurn(single, { ...base, context: singleContext, prunerState: singleState }, (e) => { sEvents.push(e); if (e.type === "text" && !singleFirst) singleFirst = performance.now(); }, () => false);
      const sStart = sEvents.find((e): e is TurnStart => e.type === "start")!;
      const sDone = sEvents.find((e): e is TurnDone => e.type === "done")!;
      singleContext.push(...sStart.segmentIds, sDone.completionIds);
      singleState = sDone.pruner.state;
      const ffnBytes = sparse.ffnBytes;
      turns.push({
        turn: t + 1, topic, bytesFetched: w.bytesFetched, fetchedShareOfFfn: w.bytesFetched / ffnBytes, residentFfnBytes: w.residentBytes,
        traceMs, ttftSplitMs: traceMs + ((firstText || performance.now()) - t1), ttftSingleMs: (singleFirst || performance.now()) - s0,
        kvBytes: trace.kv ? (trace.kv.keys.length + trace.kv.values.length) * 3 / 4 : 0,
      });
    }
    return { ffnBytes: sparse.ffnBytes, turns };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
