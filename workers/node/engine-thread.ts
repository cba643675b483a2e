// The node's engine runs here, in a worker thread: generation is synchronous, so the
// main thread stays free to stream tokens out and to notice a client going away.
// Abort travels through shared memory (a job's flag), read between tokens.
//
// The model comes from a model file (--model) or from the weight store (--weights: the
// weights Worker route over R2, or a shard folder), every object checked against the
// manifest's sha256. From the store, each turn first makes the FFN shards it can need
// resident (async, before the synchronous generation), decoded once into the engine's FFN
// bundles, and the pruner's masks are index lists over them (node-weights.ts, sparse-ffn.ts).
import { parentPort, workerData } from "node:worker_threads";
import { loadEngineBundle } from "../../cli/model-files.ts";
import { preparePriorsByKey } from "../../cli/priors-cache.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import { setTokenizer } from "../../shared/dart/priors.ts";
import type { Transformer } from "../../shared/engine/transformer.ts";
import type { WeightCounters } from "../../shared/metrics/node-metrics.ts";
import type { NodeRole, NodeTraceRequest, NodeTraceResult, NodeTurnRequest, TurnError } from "../../shared/serving/protocol.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { openModelFromStore } from "../../shared/weights/open-model.ts";
import type { WeightFormat } from "../../shared/engine/quantize-weights.ts";
import { bundleBytesPerNeuron } from "../../shared/weights/resident-ffn.ts";
import type { ShardDtype } from "../../shared/weights/dtype-codec.ts";
import type { WeightStoreStats } from "../../shared/weights/store.ts";
import { sourceFor } from "../weights/open-source.ts";
import { KvCache } from "./kv-cache.ts";
import { NodeWeights } from "./node-weights.ts";
import { fileCounters, storeCounters } from "./weight-counters.ts";
import { runTurn, type NodeEngine } from "./run-turn.ts";
import { SparseFfn } from "./sparse-ffn.ts";
import { runTrace } from "./trace.ts";
import { residentNeuronBits } from "./residency.ts";

export interface EngineThreadOptions {
  name: string;
  /** "full" (default): the whole model, traces and decodes; "sparse": base weights and mask shards only (needs `weights`). */
  role: NodeRole;
  /** A model file, or... */
  modelPath?: string;
  tokenizerPath?: string;
  /** ...a shard set: the weights route URL (http://.../weights/<prefix>/) or a folder. */
  weights?: string;
  /** Bearer sent to the weights route. */
  weightsToken?: string;
  /** Resident FFN shard budget in bytes (Infinity: unlimited). */
  weightsBudgetBytes?: number;
  /**
   * The weight format the engine holds (--quant): q8_0 keeps matrices and FFN in Q8_0 and runs
   * int8 kernels (a model file or an f32 set quantized at load, a q8_0 set as stored). Default:
   * f32 for a model file, the shard set's own for a store (q8_0 for a q8_0 set).
   */
  quant?: WeightFormat;
  kvBudgetBytes: number;
  /** KV cache positions (--ctx); default DEFAULT_CONTEXT, never above the model's context length. */
  maxContext?: number;
  /** The model file's priors cache key (cli/priors-cache.ts): DART's generic prior is read from .cache/dart, or computed once and saved there. */
  priorsKey?: string;
  /** Simulated slow device: sleep this long before each decode step (0 = full speed). */
  tokenDelayMs: number;
  /** Simulated slow trace: sleep this long before each trace's prefill (tests that kill a node mid-trace). */
  traceDelayMs?: number;
}

/** Where the model came from and what the store did (GET /stats `weights`). */
export interface WeightsInfo {
  source: string;
  /** The shard set's dtype (f32, f16, bf16 or q8_0): what its shards move per neuron. */
  dtype: ShardDtype;
  manifestSha256Checked: boolean;
  neuronsPerShard: number;
  ffnShards: number;
  ffnBytes: number;
  baseBytes: number;
  budgetBytes: number | null;
  /** Bytes checked against the manifest's sha256 at load (base, tokenizer, every shard). */
  verifiedBytesAtLoad: number;
  loadMs: number;
  store: WeightStoreStats;
}

/** The model's whole FFN in bytes (in the node's format), the FFN bytes this node holds now, and what its FFN bundles have room for. */
export interface FfnBytes {
  /** The format the engine holds its weights in: f32, or q8_0 (int8 kernels). */
  format: WeightFormat;
  total: number;
  resident: number;
  /** Address space reserved for FFN slots: a layer's whole room once it holds a neuron, committed page by page as slots fill (RSS tells). */
  allocated: number;
}

export type ToEngine =
  | { kind: "turn"; id: number; req: NodeTurnRequest; abortFlag: SharedArrayBuffer }
  | { kind: "trace"; id: number; req: NodeTraceRequest }
  | { kind: "drop"; sessionKey: string };

export type FromEngine =
  | { kind: "ready"; warmUpMs: number; priors?: { computed: string[]; cached: string[] }; model: { seqLen: number; vocabSize: number; nLayers: number; hiddenDim: number; weightFormat: WeightFormat }; weights: WeightsInfo | null; ffn: FfnBytes; residency: Uint8Array | null }
  | { kind: "event"; id: number; event: import("../../shared/serving/protocol.ts").NodeEvent }
  | { kind: "end"; id: number; record: import("./run-turn.ts").TurnRecord; cache: { entries: number; bytes: number }; weightCounters: WeightCounters; weights: WeightStoreStats | null; ffn: FfnBytes; residency: Uint8Array | null }
  | { kind: "traced"; id: number; result: NodeTraceResult | TurnError; ffn: FfnBytes }
  | { kind: "crash"; id: number; message: string }
  /** The KV cache's occupancy after a change outside a turn (a dropped session), so /stats shows it at once. */
  | { kind: "cache"; cache: { entries: number; bytes: number } }
  | { kind: "fatal"; message: string };

const opts = workerData as EngineThreadOptions;
const port = parentPort!;
const send = (m: FromEngine) => port.postMessage(m);

async function load(): Promise<{ tf: Transformer; tok: Tokenizer; weights: NodeWeights | null; sparse: SparseFfn | null; info: WeightsInfo | null }> {
  if (!opts.weights) {
    if (!opts.modelPath) throw new Error("no --model and no --weights");
    const { transformer, tokenizer } = loadEngineBundle(opts.modelPath, opts.tokenizerPath, { maxContext: opts.maxContext, weights: opts.quant });
    return { tf: transformer, tok: tokenizer, weights: null, sparse: null, info: null };
  }
  const t0 = performance.now();
  const headers: Record<string, string> = opts.weightsToken ? { authorization: `Bearer ${opts.weightsToken}` } : {};
  const source = sourceFor(opts.weights, headers);
  const budget = opts.weightsBudgetBytes ?? Infinity;
  const sparseRole = opts.role === "sparse";
  const { store, transformer, tokenizer } = await openModelFromStore(source, { budgetBytes: budget, denseFfn: !sparseRole, maxContext: opts.maxContext, weights: opts.quant });
  if (!tokenizer) throw new Error(`the shard set at ${opts.weights} has no tokenizer`);
  const m = store.manifest;
  const s = store.stats();
  const info: WeightsInfo = {
    source: source.description,
    dtype: m.dtype,
    manifestSha256Checked: true,
    neuronsPerShard: m.neuronsPerShard,
    ffnShards: m.layers.flat().length,
    ffnBytes: m.layers.flat().reduce((n, r) => n + r.bytes, 0),
    baseBytes: m.base.bytes,
    budgetBytes: Number.isFinite(budget) ? budget : null,
    verifiedBytesAtLoad: m.base.bytes + (m.tokenizer?.bytes ?? 0) + s.bytesFetched,
    loadMs: performance.now() - t0,
    store: s,
  };
  if (sparseRole) return { tf: transformer, tok: tokenizer, weights: null, sparse: new SparseFfn(store, transformer), info };
  return { tf: transformer, tok: tokenizer, weights: new NodeWeights(store, transformer), sparse: null, info };
}

let loaded: Awaited<ReturnType<typeof load>>;
try {
  loaded = await load();
} catch (e) {
  // The main thread reports it and exits; nothing is ever served from a model that did not load.
  send({ kind: "fatal", message: (e as Error).message });
  await new Promise(() => {});
}
const { tf, tok, weights, sparse, info } = loaded!;
const store = weights?.store ?? sparse?.store ?? null;
const weightFormat: WeightFormat = tf.ffn[0]!.format;
const cache = new KvCache(opts.kvBudgetBytes, (state) => tf.releaseState(state));
// A node on the weight store reports its store's counters (GET /metrics); a file node fetches nothing.
const weightCounters: WeightCounters = store ? storeCounters(store) : fileCounters();

/** The FFN in memory: the engine's neuron-major bundles hold the only copy (a store keeps no shard bytes, resident-ffn.ts). */
function ffnBytes(): FfnBytes {
  const c = tf.config;
  const perNeuron = bundleBytesPerNeuron(weightFormat, c.dim);
  let resident = 0;
  let allocated = 0;
  for (const b of tf.ffn) {
    resident += b.resident * perNeuron;
    allocated += b.capacity * perNeuron;
  }
  return { format: weightFormat, total: c.nLayers * c.hiddenDim * perNeuron, resident, allocated };
}

/** A sparse node's resident neurons (GET /v1/residency); null on a full node, which holds them all. */
const residency = () => (sparse ? residentNeuronBits(sparse.store, tf.config.nLayers, tf.config.hiddenDim) : null);

let currentFlag: Int32Array | null = null;
const engine: NodeEngine = {
  name: opts.name,
  tf,
  tok,
  cache,
  weights: weightCounters,
  pace: opts.tokenDelayMs > 0 ? () => void Atomics.wait(currentFlag!, 0, 0, opts.tokenDelayMs) : undefined,
  prunerOptions: weights?.prunerOptions,
  role: sparse ? "sparse" : "full",
};

/** A sparse node's turn: its masks' shards first (the only fetch), then the turn, then the trim. */
async function sparseTurn(m: Extract<ToEngine, { kind: "turn" }>, flag: Int32Array) {
  engine.prunerOptions = await sparse!.prepare(m.req);
  const entry = () => cache.peek(m.req.sessionKey);
  try {
    const record = runTurn(engine, m.req, (event) => send({ kind: "event", id: m.id, event }), () => Atomics.load(flag, 0) !== 0, sparse!.fetchedSincePrepare());
    record.weights = sparse!.finish();
    record.bytesFetched = record.weights.bytesFetched;
    return record;
  } finally {
    // The masks' slot lists go with the turn: an evicted neuron's slot may hold another one next turn.
    entry()?.state.ffn.fill(null);
  }
}

async function turn(m: Extract<ToEngine, { kind: "turn" }>): Promise<void> {
  const flag = new Int32Array(m.abortFlag);
  currentFlag = flag;
  try {
    let record;
    if (sparse) record = await sparseTurn(m, flag);
    else {
      // Fetching happens here, before generation: a shard that fails verification fails the turn.
      await weights?.prepare(m.req.dart);
      record = runTurn(engine, m.req, (event) => send({ kind: "event", id: m.id, event }), () => Atomics.load(flag, 0) !== 0);
      if (weights) {
        record.weights = weights.finish();
        record.bytesFetched = record.weights.bytesFetched; // the pre-turn fetch is this turn's
      }
    }
    send({ kind: "end", id: m.id, record, cache: { entries: cache.size, bytes: cache.bytes }, weightCounters: { ...weightCounters }, weights: store?.stats() ?? null, ffn: ffnBytes(), residency: residency() });
  } catch (e) {
    if (weights) weights.finish();
    if (sparse) sparse.finish();
    // A failed turn leaves the session's cache in an unknown state: forget it.
    cache.drop(m.req.sessionKey);
    send({ kind: "crash", id: m.id, message: (e as Error).stack ?? String(e) });
  }
}

// Turns run one at a time, in arrival order (prepare() awaits, generation must not interleave).
let queue: Promise<void> = Promise.resolve();
port.on("message", (m: ToEngine) => {
  if (m.kind === "drop") {
    queue = queue.then(() => {
      cache.drop(m.sessionKey);
      send({ kind: "cache", cache: { entries: cache.size, bytes: cache.bytes } });
    });
    return;
  }
  queue = queue.then(() => (m.kind === "trace" ? trace(m) : turn(m)));
});

/** A full node's trace: dense prefill with tracing, no decode; the store's shards are resident already. */
async function trace(m: Extract<ToEngine, { kind: "trace" }>): Promise<void> {
  try {
    await weights?.prepare(m.req.dart);
    if (opts.traceDelayMs) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, opts.traceDelayMs);
    const result = runTrace(engine, m.req);
    weights?.finish();
    send({ kind: "traced", id: m.id, result, ffn: ffnBytes() });
  } catch (e) {
    if (weights) weights.finish();
    cache.drop(m.req.sessionKey);
    send({ kind: "crash", id: m.id, message: (e as Error).stack ?? String(e) });
  }
}

// The fixed-text DART prior needs the tokenizer. A warm-up turn on a throwaway cache computes
// the per-model DART priors (forward proxy, generic statistics) and JIT-compiles the engine
// before the node takes traffic, instead of on some session's first turn.
setTokenizer(tf, tok);
const t0 = performance.now();
let priors: { computed: string[]; cached: string[] } | undefined;
try {
  // A full node's default generic prior comes from the launcher's cache when it has one (dart prepare).
  if (opts.priorsKey && !sparse) {
    try {
      // (priors computed on Q8_0 weights are cached apart from the fp32 model's: priorsPath)
      priors = preparePriorsByKey(tf, tok, opts.priorsKey, { generic: [DEFAULT_DART_SETTINGS.prior] });
    } catch (e) {
      console.error(`DART priors cache not used: ${(e as Error).message}`); // the warm-up turn computes them in memory
    }
  }
  await weights?.prepare(DEFAULT_DART_SETTINGS);
} catch (e) {
  send({ kind: "fatal", message: (e as Error).message });
  await new Promise(() => {});
}
// A sparse node has no dense FFN to warm up DART's priors with; its first turn compiles the compacted path.
if (!sparse) runTurn(
  { ...engine, cache: new KvCache(0), weights: fileCounters(), pace: undefined },
  { sessionKey: "warm-up", context: [], segments: [{ text: "Once upon a time" }], maxTokens: 16, temperature: 0, topP: 1, seed: 1, dart: DEFAULT_DART_SETTINGS, prunerState: "" },
  () => {},
  () => false,
);
weights?.finish();
const warmUpMs = performance.now() - t0;

send({
  kind: "ready",
  warmUpMs,
  ...(priors ? { priors } : {}),
  model: { seqLen: tf.config.seqLen, vocabSize: tf.config.vocabSize, nLayers: tf.config.nLayers, hiddenDim: tf.config.hiddenDim, weightFormat },
  weights: info ? { ...info, store: store!.stats() } : null,
  ffn: ffnBytes(),
  residency: residency(),
});
