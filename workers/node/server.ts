#!/usr/bin/env node
// Inference node: an HTTP service the Session Durable Objects call, one turn per request.
//   POST /v1/turn      NodeTurnRequest -> NDJSON NodeEvents (a 4xx JSON error before streaming)
//   POST /v1/trace     NodeTraceRequest -> NodeTraceResult JSON (full nodes: dense prefill, DART masks)
//   GET /v1/residency  a sparse node's resident FFN neurons (bitset, ETag) and load: where a split turn decodes
//   POST /v1/handoff   NodeHandoff: a trace's state, prior masks and KV for the turn that will name it (node to node)
//   POST /v1/states    NodeStatePush: a split turn's final state for this node's soft cache (node to node)
//   DELETE /v1/sessions/:key   forget a session's KV cache
//   GET /healthz       liveness and model shape
//   GET /v1/ready      200 once the model is loaded, with the node token (the gateway's /readyz)
//   GET /stats         recent turns and cache occupancy (bearer: like /metrics)
//   GET /metrics       Prometheus text (bearer: DART_METRICS_TOKEN or the node token, when set)
// Options come from flags or environment (see usage below).
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { NodeMetrics, type WeightCounters } from "../../shared/metrics/node-metrics.ts";
import { PROMETHEUS_CONTENT_TYPE } from "../../shared/metrics/prometheus.ts";
import { bearerIsOneOf } from "../../shared/security/constant-time.ts";
import { ndjsonLine } from "../../shared/serving/ndjson.ts";
import { sessionKeyValid } from "../../shared/serving/session-key.ts";
import type { NodeEvent, NodeHandoff, NodeStatePush } from "../../shared/serving/protocol.ts";
import type { EngineThreadOptions, FfnBytes, FromEngine, ToEngine } from "./engine-thread.ts";
import type { TurnRecord } from "./run-turn.ts";
import { HandoffStore } from "./handoff-store.ts";
import { handOff, pushState } from "./node-push.ts";
import { PrunerStateCache } from "./state-cache.ts";
import { FairTurnQueue, type TurnSlot } from "./turn-queue.ts";
import { validateHandoff, validateStatePush, validateTraceRequest, validateTurnRequest } from "./validate.ts";
import { bitsEtag } from "./residency.ts";
import { toBase64 } from "../../shared/serving/base64.ts";

const usage = `usage: node workers/node/server.ts (--model <file> [--tokenizer <file>] | --weights <url|dir> [--weights-budget-mb <n>]) [--quant f32|q8_0]
  [--role full|sparse] [--port <n>] [--host <ip>] [--listen-fd <fd>] [--name <id>] [--kv-budget-mb <n>] [--state-cache-mb <n>] [--token-delay-ms <n>] [--trace-delay-ms <n>]
  [--max-queue <n>] [--max-queue-wait-ms <n>] [--handoff-mb <n>] [--handoff-ttl-s <n>] [--ctx <n>] [--priors-key <hex>]
  --ctx: positions of each session's KV cache (default 4096, never above the model's own
  context length: a file's 128K context_length would cost gigabytes per session). A turn that
  does not fit is answered 400 context_length_exceeded.
  --priors-key: the model file's key in the DART priors cache (.cache/dart, dart prepare): the
  generic prior is read from there, or computed once and saved there.
  Turns and traces wait for the engine in a queue served round-robin across tenants (API keys); more than
  --max-queue waiting (default 16), or one waiting over --max-queue-wait-ms (default 10000), is
  answered 429 with Retry-After. --state-cache-mb (default 64) bounds the pruner states kept
  for the sessions' next turns (state-cache.ts). --handoff-mb (default 512) and --handoff-ttl-s
  (default 60) bound the traces full nodes push here for split turns (handoff-store.ts).
  --token-delay-ms / --trace-delay-ms simulate a slow device (a sleep before each decoded token /
  each trace), for tests.
  --weights loads base and FFN shards from the weight store: the weights route of a running
  gateway or weights Worker (http://host/weights/<prefix>/) or a shard folder, checking every
  sha256; --weights-budget-mb bounds the resident FFN shards between turns (default: unlimited).
  --quant: the weight format the engine holds (--weights names the store, so not that flag).
  q8_0 keeps the matrices and FFN in Q8_0 and runs int8 kernels: a model file or an f32 shard set
  is quantized at load (as dart generate --weights q8_0), a q8_0 shard set (dart shard --dtype
  q8_0) is adopted as stored. Default: f32 for a model file, the set's own for a store (q8_0
  for a q8_0 set, which cannot be served as f32). /healthz model.weightFormat and /stats
  ffn.format say which a node holds.
  --role full (default): the whole model; decodes, and traces for sparse nodes (POST /v1/trace).
  --role sparse (needs --weights): base weights and only the FFN shards of the masks in force, no
  dense FFN; decodes turns whose masks a full node traced.
  Environment: DART_NODE_TOKEN (bearer the Session objects send; also sent to the weights
  route unless DART_WEIGHTS_TOKEN is set), DART_METRICS_TOKEN (bearer for GET /metrics; the
  node token is accepted too; with neither set /metrics is open), PORT. Tokens are read from
  the environment only: a command line is visible to every local user.
  Prints "listening <url>" on stdout once the model is loaded.`;

const { values: v } = parseArgs({
  options: {
    model: { type: "string" },
    tokenizer: { type: "string" },
    port: { type: "string" },
    "listen-fd": { type: "string" },
    host: { type: "string" },
    name: { type: "string" },
    "kv-budget-mb": { type: "string" },
    "state-cache-mb": { type: "string" },
    "token-delay-ms": { type: "string" },
    "trace-delay-ms": { type: "string" },
    weights: { type: "string" },
    "weights-budget-mb": { type: "string" },
    quant: { type: "string" },
    "max-queue": { type: "string" },
    "max-queue-wait-ms": { type: "string" },
    "handoff-mb": { type: "string" },
    "handoff-ttl-s": { type: "string" },
    role: { type: "string" },
    ctx: { type: "string" },
    "priors-key": { type: "string" },
    help: { type: "boolean" },
  },
});
const role = v.role ?? "full";
if (v.help || !(v.model || v.weights) || (v.model && v.weights) || (role !== "full" && role !== "sparse") || (role === "sparse" && !v.weights)) {
  if (!v.help && role === "sparse" && !v.weights) process.stderr.write("--role sparse needs --weights: a sparse node loads base weights and shards from the weight store\n");
  process.stderr.write(usage + "\n");
  process.exit(v.help ? 0 : 2);
}
const maxContext = v.ctx === undefined ? undefined : Number(v.ctx);
if (maxContext !== undefined && !(Number.isInteger(maxContext) && maxContext >= 1)) {
  process.stderr.write(`--ctx must be a positive integer, got ${v.ctx}\n`);
  process.exit(2);
}
if (v.quant !== undefined && v.quant !== "f32" && v.quant !== "q8_0") {
  process.stderr.write(`--quant must be f32 or q8_0, got ${v.quant}\n`);
  process.exit(2);
}
if (v["priors-key"] !== undefined && !/^[0-9a-f]{16}$/.test(v["priors-key"])) {
  process.stderr.write(`--priors-key must be 16 hex digits, got ${v["priors-key"]}\n`);
  process.exit(2);
}
const host = v.host ?? "127.0.0.1";
const port = Number(v.port ?? process.env.PORT ?? 0);
const token = process.env.DART_NODE_TOKEN ?? "";
const metricsToken = process.env.DART_METRICS_TOKEN ?? "";
const threadOptions: EngineThreadOptions = {
  name: v.name ?? `node-${process.pid}`,
  role,
  modelPath: v.model,
  tokenizerPath: v.tokenizer,
  weights: v.weights,
  weightsToken: process.env.DART_WEIGHTS_TOKEN || token,
  weightsBudgetBytes: v["weights-budget-mb"] !== undefined ? Number(v["weights-budget-mb"]) * 1024 * 1024 : undefined,
  quant: v.quant as EngineThreadOptions["quant"],
  kvBudgetBytes: Number(v["kv-budget-mb"] ?? 256) * 1024 * 1024,
  tokenDelayMs: Number(v["token-delay-ms"] ?? 0),
  maxContext,
  priorsKey: v["priors-key"],
  traceDelayMs: Number(v["trace-delay-ms"] ?? 0),
};

const turnQueue = new FairTurnQueue({ maxWaiting: Number(v["max-queue"] ?? 16), maxWaitMs: Number(v["max-queue-wait-ms"] ?? 10_000) });

const engine = new Worker(new URL("./engine-thread.ts", import.meta.url), { workerData: threadOptions });
const jobs = new Map<number, (m: FromEngine) => void>();
const recent: (TurnRecord & { at: number })[] = [];
let cacheStats = { entries: 0, bytes: 0 };
let weightCounters: WeightCounters = { source: "file", bytesFetched: 0, shardHits: 0, shardMisses: 0 };
const metrics = new NodeMetrics(threadOptions.name);
/** The state each session's last turn here produced, so the Session object need not resend it (state-cache.ts). */
const states = new PrunerStateCache(Number(v["state-cache-mb"] ?? 64) * 1024 * 1024);
/** Traces pushed here by full nodes, waiting for the split turn that names them (handoff-store.ts). */
const handoffs = new HandoffStore(Number(v["handoff-mb"] ?? 512) * 1024 * 1024, Number(v["handoff-ttl-s"] ?? 60) * 1000);
let model: Extract<FromEngine, { kind: "ready" }>["model"] | null = null;
let weightsInfo: Extract<FromEngine, { kind: "ready" }>["weights"] = null;
let ffn: FfnBytes = { format: "f32", total: 0, resident: 0, allocated: 0 };
/** A sparse node's resident neurons after its last turn, and their ETag. */
let residency: { bits: Uint8Array; etag: string } | null = null;
const setResidency = (bits: Uint8Array | null) => void (residency = bits && { bits, etag: bitsEtag(bits) });
let nextId = 1;
let stopping = false;

const ready = new Promise<void>((resolve, reject) => {
  engine.on("message", (m: FromEngine) => {
    if (m.kind === "fatal") {
      process.stderr.write(`the inference node could not load its model: ${m.message}\n`);
      process.exit(1);
    }
    if (m.kind === "ready") {
      model = m.model;
      weightsInfo = m.weights;
      ffn = m.ffn;
      setResidency(m.residency);
      if (m.weights) {
        const w = m.weights;
        weightCounters = { source: "store", bytesFetched: w.store.bytesFetched, shardHits: w.store.cacheHits, shardMisses: w.store.shardsFetched };
        process.stderr.write(`loaded from ${w.source}: base ${w.baseBytes} B + ${w.ffnShards} FFN shards (${w.ffnBytes} B, ${w.dtype}), ${w.verifiedBytesAtLoad} B sha256-verified, ${w.loadMs.toFixed(0)} ms\n`);
      }
      const priors = m.priors ? `; DART priors ${[...m.priors.cached.map((p) => `${p} cached`), ...m.priors.computed.map((p) => `${p} computed`)].join(", ")}` : "";
      process.stderr.write(`engine ready (weights ${m.model.weightFormat}, warm-up ${m.warmUpMs.toFixed(0)} ms${priors})\n`);
      resolve();
      return;
    }
    if (m.kind === "end") {
      recent.push({ ...m.record, at: Date.now() });
      if (recent.length > 100) recent.shift();
      cacheStats = m.cache;
      if (weightsInfo && m.weights) weightsInfo = { ...weightsInfo, store: m.weights };
      weightCounters = m.weightCounters;
      ffn = m.ffn;
      setResidency(m.residency);
      metrics.record(m.record);
    }
    if (m.kind === "cache") return void (cacheStats = m.cache);
    if (m.kind === "traced") {
      ffn = m.ffn;
      metrics.recordTrace(m.result.type === "trace");
    }
    jobs.get(m.id)?.(m);
  });
  engine.on("error", reject);
  engine.on("exit", (code) => {
    if (stopping) return;
    process.stderr.write(`engine thread exited with code ${code}\n`);
    process.exit(1);
  });
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function errorBody(message: string, type: string, param: string | null, code: string | null) {
  return { error: { message, type, param, code } };
}

function busy(res: ServerResponse): void {
  const retryAfter = turnQueue.retryAfterSeconds();
  res.writeHead(429, { "content-type": "application/json", "retry-after": String(retryAfter) });
  res.end(JSON.stringify(errorBody(`this inference node is busy; retry in ${retryAfter}s`, "rate_limit_error", null, "node_busy")));
}

const stateNotCached = (res: ServerResponse) =>
  json(res, 409, errorBody("this node does not hold that pruner state version; send the state", "invalid_request_error", "prunerStateVersion", "state_not_cached"));

async function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > limit) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * The request's JSON body, or null after answering 413 / 400. Room for a session's pruner state at
 * its limit (MAX_STATE_BYTES, 16 MiB) as base64 plus the context, and for a KV handoff (a turn after a trace).
 */
async function readJsonBody(req: IncomingMessage, res: ServerResponse): Promise<unknown | null> {
  const raw = await readBody(req, 64 * 1024 * 1024);
  if (raw === null) {
    json(res, 413, errorBody("request body too large", "invalid_request_error", null, "request_too_large"));
    return null;
  }
  try {
    return JSON.parse(raw);
  } catch {
    json(res, 400, errorBody("body is not valid JSON", "invalid_request_error", null, "invalid_json"));
    return null;
  }
}

async function handleTrace(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (role !== "full") return json(res, 409, errorBody("this is a sparse node: it holds no dense FFN and cannot trace", "invalid_request_error", null, "not_a_full_node"));
  const body = await readJsonBody(req, res);
  if (body === null) return;
  const problem = validateTraceRequest(body, model?.vocabSize);
  if (problem) return json(res, 400, errorBody(problem.message, "invalid_request_error", problem.param, "invalid_trace"));
  const traceReq = body as Extract<ToEngine, { kind: "trace" }>["req"];
  // A trace fills the session's KV cache on this node: only the Session object can name it.
  if (!(await sessionKeyValid(traceReq.sessionKey, token))) {
    return json(res, 403, errorBody("sessionKey is not signed with the node token", "invalid_request_error", "sessionKey", "invalid_session_key"));
  }
  if (!states.resolve(traceReq)) return stateNotCached(res);
  // A trace takes the engine like a turn: it waits in the same fair, bounded queue.
  const slot = await admit(traceReq.tenant, res);
  if (!slot) return;
  const id = nextId++;
  const m = await new Promise<FromEngine>((resolve) => {
    jobs.set(id, resolve);
    engine.postMessage({ kind: "trace", id, req: traceReq } satisfies ToEngine);
  }).finally(() => slot.release());
  jobs.delete(id);
  if (m.kind === "traced" && m.result.type === "trace") {
    const answer = await handOff(m.result, traceReq, token);
    if (answer.handoff) metrics.recordPush("handoff", answer.handoff.bytes);
    return json(res, 200, answer);
  }
  if (m.kind === "traced" && m.result.type === "error") return json(res, m.result.status, errorBody(m.result.message, "invalid_request_error", m.result.param, m.result.code));
  metrics.recordTrace(false);
  process.stderr.write(`trace ${id} failed: ${m.kind === "crash" ? m.message : m.kind}\n`);
  json(res, 500, errorBody("the inference node failed on this trace", "server_error", null, "node_error"));
}

/**
 * Admission to the engine, for turns and traces alike: fair across tenants and bounded. A full
 * or slow queue answers 429 (turn-queue.ts) and gives null, as does a caller gone while waiting.
 */
async function admit(tenant: string | undefined, res: ServerResponse): Promise<TurnSlot | null> {
  const slot = turnQueue.enter(tenant ?? "");
  if (!slot) {
    busy(res);
    return null;
  }
  let admitted = false;
  res.on("close", () => {
    if (!admitted) slot.release(); // gone while waiting: leave the queue
  });
  if (!(await slot.ready)) {
    if (!res.destroyed) busy(res);
    return null;
  }
  admitted = true;
  return slot;
}

/**
 * The resident neurons change only when a turn ends, so the bitset answers with an ETag and a
 * Session object that holds it revalidates for a 304; the load (turns running and waiting)
 * rides in a header of both, fresh on every answer.
 */
function handleResidency(req: IncomingMessage, res: ServerResponse): void {
  if (!residency || !model) return json(res, 409, errorBody("this is a full node: it holds every neuron and decodes no split turn", "invalid_request_error", null, "not_a_sparse_node"));
  const q = turnQueue.stats();
  const headers = { etag: residency.etag, "x-dart-load": String(q.running + q.waiting), "cache-control": "no-cache" };
  if (req.headers["if-none-match"] === residency.etag) {
    res.writeHead(304, headers);
    return void res.end();
  }
  res.writeHead(200, { ...headers, "content-type": "application/json" });
  res.end(JSON.stringify({ node: threadOptions.name, nLayers: model.nLayers, hiddenDim: model.hiddenDim, bits: toBase64(residency.bits) }));
}

async function handleTurn(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const body = await readJsonBody(req, res);
  if (body === null) return;
  const problem = validateTurnRequest(body, model?.vocabSize);
  if (problem) return json(res, 400, errorBody(problem.message, "invalid_request_error", problem.param, "invalid_turn"));
  const turn = body as Extract<ToEngine, { kind: "turn" }>["req"];
  // Only the Session object can name a session's KV cache (shared/serving/session-key.ts).
  if (!(await sessionKeyValid(turn.sessionKey, token))) {
    return json(res, 403, errorBody("sessionKey is not signed with the node token", "invalid_request_error", "sessionKey", "invalid_session_key"));
  }
  // A split turn's trace waits here (POST /v1/handoff); gone (restart, TTL, evicted): the Session object traces again.
  const h = turn.trace?.handoff ? handoffs.take(turn.sessionKey, turn.trace.handoff) : undefined;
  if (h !== undefined) metrics.recordHandoff(h ? "taken" : "missing");
  if (h === null) return json(res, 409, errorBody("this node holds no such handoff; trace the turn again", "invalid_request_error", "trace.handoff", "handoff_not_found"));
  if (h) {
    turn.prunerState = h.state;
    turn.trace = { ...turn.trace!, prior: h.prior, kv: h.kv };
  }
  if (!states.resolve(turn)) return stateNotCached(res);
  const slot = await admit(turn.tenant, res);
  if (!slot) return;

  const id = nextId++;
  const abortFlag = new SharedArrayBuffer(4);
  const flag = new Int32Array(abortFlag);
  const abort = () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0); // wakes a simulated-delay sleep at once
  };
  // The caller went away (client disconnect upstream): stop computing.
  res.on("close", () => {
    if (!res.writableFinished) abort();
  });

  let started = false;
  let written = Promise.resolve(); // lines go out in order, the done line after the state push
  await new Promise<void>((resolve) => {
    jobs.set(id, (m) => void (written = written.then(() => onMessage(m))));
    const onMessage = async (m: FromEngine) => {
      if (m.kind === "event") {
        let e: NodeEvent = m.event;
        if (!started) {
          if (e.type === "error") {
            json(res, e.status, errorBody(e.message, "invalid_request_error", e.param, e.code));
            return;
          }
          started = true;
          res.writeHead(200, { "content-type": "application/x-ndjson", "cache-control": "no-store" });
          res.flushHeaders();
        }
        if (e.type === "done") {
          states.remember(turn.sessionKey, e.pruner.state);
          // Before the done line: the session's next trace finds the state on the full node.
          if (turn.trace?.stateTo) {
            const pushed = await pushState(turn.trace.stateTo, { sessionKey: turn.sessionKey, state: e.pruner.state }, token);
            metrics.recordPush("state", pushed);
            e = { ...e, nodeToNodeBytes: pushed };
          }
        }
        res.write(ndjsonLine(e));
      } else if (m.kind === "end" || m.kind === "crash") {
        jobs.delete(id);
        slot.release();
        if (m.kind === "crash") {
          process.stderr.write(`turn ${id} failed: ${m.message}\n`);
          const e: NodeEvent = { type: "error", status: 500, message: "the inference node failed on this turn", param: null, code: "node_error" };
          if (started) res.write(ndjsonLine(e));
          else json(res, 500, errorBody(e.message, "server_error", null, e.code));
        }
        if (!res.writableEnded) res.end();
        resolve();
      }
    };
    engine.postMessage({ kind: "turn", id, req: turn, abortFlag } satisfies ToEngine);
  });
}

/** Node to node (node-push.ts): a trace's bulk for a turn to come, or a split turn's final state for the soft cache. */
async function handlePush(req: IncomingMessage, res: ServerResponse, kind: "handoff" | "state"): Promise<void> {
  const body = await readJsonBody(req, res);
  if (body === null) return;
  const problem = kind === "handoff" ? validateHandoff(body, model?.vocabSize) : validateStatePush(body);
  if (problem) return json(res, 400, errorBody(problem.message, "invalid_request_error", problem.param, `invalid_${kind}`));
  const push = body as NodeHandoff & NodeStatePush;
  if (!(await sessionKeyValid(push.sessionKey, token))) {
    return json(res, 403, errorBody("sessionKey is not signed with the node token", "invalid_request_error", "sessionKey", "invalid_session_key"));
  }
  if (kind === "state") {
    states.remember(push.sessionKey, push.state);
    return json(res, 200, { kept: true });
  }
  if (!handoffs.put(push, Number(req.headers["content-length"]) || JSON.stringify(push).length)) {
    return json(res, 413, errorBody("the handoff exceeds this node's handoff budget", "invalid_request_error", null, "handoff_too_large"));
  }
  metrics.recordHandoff("received");
  json(res, 200, { kept: true });
}

const server = createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? "/", "http://node");
    // Turns and cache control need the Session objects' bearer; health holds no conversation data.
    if (token && url.pathname.startsWith("/v1/") && !bearerIsOneOf(req.headers.authorization, [token])) {
      return json(res, 401, errorBody("missing or wrong node token", "invalid_request_error", null, "invalid_node_token"));
    }
    // Readiness for the gateway's /readyz: behind the node token, so a node of another stack is not ready.
    if (req.method === "GET" && url.pathname === "/v1/ready") return json(res, 200, { ready: true, node: threadOptions.name });
    if (req.method === "GET" && url.pathname === "/healthz") return json(res, 200, { ok: true, node: threadOptions.name, role, model });
    // /stats (session keys, turn records) and /metrics: the metrics token or the node token, when either is set.
    const observer = !(metricsToken || token) || bearerIsOneOf(req.headers.authorization, [metricsToken, token]);
    if (req.method === "GET" && (url.pathname === "/stats" || url.pathname === "/metrics") && !observer) {
      return json(res, 401, errorBody(`GET ${url.pathname} needs Authorization: Bearer <metrics token>`, "invalid_request_error", null, "invalid_metrics_token"));
    }
    if (req.method === "GET" && url.pathname === "/stats") {
      return json(res, 200, { node: threadOptions.name, role, turns: recent, queue: turnQueue.stats(), cache: { ...cacheStats, budgetBytes: threadOptions.kvBudgetBytes }, states: states.stats(), handoffs: handoffs.stats(), weights: weightsInfo, ffn, rssBytes: process.memoryUsage().rss });
    }
    if (req.method === "GET" && url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE, "cache-control": "no-store" });
      res.end(
        metrics.render({
          weights: weightCounters, kvEntries: cacheStats.entries, kvBytes: cacheStats.bytes, kvBudgetBytes: threadOptions.kvBudgetBytes,
          role, ffnBytes: ffn.total, residentFfnBytes: ffn.resident, rssBytes: process.memoryUsage().rss,
        }),
      );
      return;
    }
    if (req.method === "GET" && url.pathname === "/v1/residency") return handleResidency(req, res);
    if (req.method === "POST" && url.pathname === "/v1/turn") return await handleTurn(req, res);
    if (req.method === "POST" && url.pathname === "/v1/trace") return await handleTrace(req, res);
    if (req.method === "POST" && url.pathname === "/v1/handoff") return await handlePush(req, res, "handoff");
    if (req.method === "POST" && url.pathname === "/v1/states") return await handlePush(req, res, "state");
    const m = /^\/v1\/sessions\/([^/]+)$/.exec(url.pathname);
    if (req.method === "DELETE" && m) {
      let sessionKey: string;
      try {
        sessionKey = decodeURIComponent(m[1]!);
      } catch {
        return json(res, 400, errorBody("the session key is not valid percent-encoding", "invalid_request_error", null, "invalid_session_key"));
      }
      if (!(await sessionKeyValid(sessionKey, token))) {
        return json(res, 403, errorBody("the session key is not signed with the node token", "invalid_request_error", null, "invalid_session_key"));
      }
      engine.postMessage({ kind: "drop", sessionKey } satisfies ToEngine);
      states.drop(sessionKey);
      return json(res, 200, { dropped: true });
    }
    json(res, 404, errorBody(`no route ${req.method} ${url.pathname}`, "invalid_request_error", null, "not_found"));
  } catch (e) {
    process.stderr.write(`request failed: ${(e as Error).stack}\n`);
    if (!res.headersSent) json(res, 500, errorBody("internal error", "server_error", null, null));
    else res.destroy();
  }
});

await ready;
// --listen-fd: a socket the launcher bound and listens on (cli/ports.ts), so no other process can take the port meanwhile.
server.listen(v["listen-fd"] !== undefined ? { fd: Number(v["listen-fd"]) } : { port, host }, () => {
  const addr = server.address();
  const actual = typeof addr === "object" && addr ? addr.port : port;
  process.stdout.write(`listening http://${host}:${actual} ${threadOptions.name} ${role}\n`);
});

const shutdown = () => {
  stopping = true;
  server.close();
  void engine.terminate().then(() => process.exit(0));
};
process.on("SIGTERM", shutdown);
process.on("SIGINT", shutdown);
