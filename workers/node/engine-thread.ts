// The node's engine runs here, in a worker thread: generation is synchronous, so the
// main thread stays free to stream tokens out and to notice a client going away.
// Abort travels through shared memory (a job's flag), read between tokens.
import { parentPort, workerData } from "node:worker_threads";
import { loadBundle } from "../../cli/model-files.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import type { WeightCounters } from "../../shared/metrics/node-metrics.ts";
import type { NodeTurnRequest } from "../../shared/serving/protocol.ts";
import { KvCache } from "./kv-cache.ts";
import { fileCounters } from "./weight-counters.ts";
import { runTurn, type NodeEngine } from "./run-turn.ts";

export interface EngineThreadOptions {
  name: string;
  modelPath: string;
  tokenizerPath?: string;
  kvBudgetBytes: number;
  /** Simulated slow device: sleep this long before each decode step (0 = full speed). */
  tokenDelayMs: number;
}

export type ToEngine =
  | { kind: "turn"; id: number; req: NodeTurnRequest; abortFlag: SharedArrayBuffer }
  | { kind: "drop"; sessionKey: string };

export type FromEngine =
  | { kind: "ready"; warmUpMs: number; model: { seqLen: number; vocabSize: number; nLayers: number; hiddenDim: number } }
  | { kind: "event"; id: number; event: import("../../shared/serving/protocol.ts").NodeEvent }
  | { kind: "end"; id: number; record: import("./run-turn.ts").TurnRecord; cache: { entries: number; bytes: number }; weightCounters: WeightCounters }
  | { kind: "crash"; id: number; message: string };

const opts = workerData as EngineThreadOptions;
const port = parentPort!;
const { transformer: tf, tokenizer: tok } = loadBundle(opts.modelPath, opts.tokenizerPath);
const cache = new KvCache(opts.kvBudgetBytes);
const send = (m: FromEngine) => port.postMessage(m);
// The whole model file is loaded: nothing is fetched from a weight store (see README,
// Observability). A node on the weight store would use storeCounters(store) instead.
const weightCounters: WeightCounters = fileCounters();

let currentFlag: Int32Array | null = null;
const engine: NodeEngine = {
  name: opts.name,
  tf,
  tok,
  cache,
  weights: weightCounters,
  pace: opts.tokenDelayMs > 0 ? () => void Atomics.wait(currentFlag!, 0, 0, opts.tokenDelayMs) : undefined,
};

port.on("message", (m: ToEngine) => {
  if (m.kind === "drop") {
    cache.drop(m.sessionKey);
    return;
  }
  const flag = new Int32Array(m.abortFlag);
  currentFlag = flag;
  try {
    const record = runTurn(engine, m.req, (event) => send({ kind: "event", id: m.id, event }), () => Atomics.load(flag, 0) !== 0);
    send({ kind: "end", id: m.id, record, cache: { entries: cache.size, bytes: cache.bytes }, weightCounters: { ...weightCounters } });
  } catch (e) {
    // A failed turn leaves the session's cache in an unknown state: forget it.
    cache.drop(m.req.sessionKey);
    send({ kind: "crash", id: m.id, message: (e as Error).stack ?? String(e) });
  }
});

// The fixed-text DART prior needs the tokenizer. A warm-up turn on a throwaway cache computes
// the per-model DART priors (forward proxy, generic statistics) and JIT-compiles the engine
// before the node takes traffic, instead of on some session's first turn.
setTokenizer(tf, tok);
const t0 = performance.now();
runTurn(
  { ...engine, cache: new KvCache(0), weights: fileCounters(), pace: undefined },
  { sessionKey: "warm-up", context: [], segments: [{ text: "Once upon a time" }], maxTokens: 16, temperature: 0, topP: 1, seed: 1, dart: DEFAULT_DART_SETTINGS, prunerState: "" },
  () => {},
  () => false,
);
const warmUpMs = performance.now() - t0;

send({ kind: "ready", warmUpMs, model: { seqLen: tf.config.seqLen, vocabSize: tf.config.vocabSize, nLayers: tf.config.nLayers, hiddenDim: tf.config.hiddenDim } });
