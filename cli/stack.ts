// The local serving stack: inference node processes plus `wrangler dev` (gateway Worker,
// Session and RateLimiter Durable Objects, R2) wired to them. Used by `dart serve`
// (npm start) and by the end-to-end tests. Every process runs in its own process group
// under a reaper (cli/supervise.ts), so stopping kills its children too (wrangler starts
// workerd) and nothing outlives the launcher, however it ends.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import type { Server } from "node:net";
import { dirname, join, resolve } from "node:path";
import { checkNotTokenizer } from "./model-files.ts";
import { priorsKeyOfFile } from "./priors-cache.ts";
import { chatTemplateSetting } from "./gguf-head.ts";
import { assertPortFree, freePort, listenLoopback, portOf } from "./ports.ts";
import { apiKeyHashes, wranglerVars } from "./stack-secrets.ts";
import { Child } from "./supervise.ts";
import { modelNameOf, seedLocalWeights } from "./weights-seed.ts";
import type { WeightFormat } from "../shared/engine/quantize-weights.ts";

export { freePort } from "./ports.ts";

const ROOT = resolve(import.meta.dirname, "..");

export interface StackOptions {
  /** Gateway port; 0 or absent picks a free one. */
  port?: number;
  /** Plain API keys the gateway accepts (only their salted PBKDF2 digests reach the Worker). */
  apiKeys: string[];
  /** Number of full inference nodes (the whole model: they trace, and decode what sparse nodes cannot). */
  nodes?: number;
  /** Number of sparse inference nodes (base weights + mask shards from the store; they decode traced turns). Default 0. */
  sparseNodes?: number;
  /** Model file (llama2.c .bin with its tokenizer beside it, or GGUF). */
  modelPath: string;
  /**
   * Where nodes load the model from. "store" (default): the model is cut into a shard set
   * and seeded into the local R2 bucket (first run only), and nodes load base and shards
   * through the gateway's /weights route, verifying every sha256. "file": nodes read modelPath.
   */
  nodeWeights?: "store" | "file";
  /** KV cache positions per session on every node (--ctx; default 4096, capped by the model's context length). */
  ctx?: number;
  /** Resident FFN shard budget of each node in MiB (store mode; default unlimited). */
  weightsBudgetMb?: number;
  /**
   * "q8_0": the stack runs int8 end to end: the shard set is cut in Q8_0 (its own cache folder
   * and R2 prefix, <model>-q8_0) and every node holds Q8_0 (--quant q8_0; file nodes quantize at
   * load). Default f32.
   */
  quant?: WeightFormat;
  /** Where wrangler keeps Durable Object and R2 state. */
  persistDir: string;
  /** Simulated slow device on the nodes (ms per generated token); tests of abort and 409 use it. */
  tokenDelayMs?: number;
  /** Simulated slow trace on the full nodes (ms before each trace); tests that kill a node mid-trace use it. */
  traceDelayMs?: number;
  rateLimitPerMinute?: number;
  maxBodyBytes?: number;
  chatTemplate?: string;
  /** Bearer for GET /metrics on the gateway and the nodes (besides API keys); a random one when absent. */
  metricsToken?: string;
  /** Extra wrangler vars (name -> value; secrets, by name, go through the 0600 secrets file). */
  vars?: Record<string, string>;
  /** Extra flags for every node process (say, --handoff-ttl-s for a test of a lost handoff). */
  nodeArgs?: string[];
  /** Called with every output line of every process, prefixed by its name. */
  onLog?: (line: string) => void;
}

export interface NodeProcess {
  name: string;
  url: string;
  role: "full" | "sparse";
  pid: number;
  stop(): Promise<void>;
}

export interface Stack {
  url: string;
  /** The model id clients name (GET /v1/models): the model file's name unless vars.MODEL_ID says otherwise. */
  model: string;
  /** Bearer accepted by GET /metrics on the gateway and on every node. */
  metricsToken: string;
  nodes: NodeProcess[];
  /** Recent output lines of all processes (for failure reports). */
  logs(): string;
  /**
   * Kills `wrangler dev` (and its workerd) with `signal`, runs `whileStopped` (tests that edit the
   * stored state), then starts it again on the same port and state.
   */
  restartGateway(signal?: NodeJS.Signals, whileStopped?: () => void | Promise<void>): Promise<void>;
  stop(): Promise<void>;
}


function waitForLine(p: Child, pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((res, rej) => {
    let buf = "";
    const timer = setTimeout(() => rej(new Error(`${p.name}: not ready after ${timeoutMs} ms`)), timeoutMs);
    p.reaper.stdout!.on("data", (d: string) => {
      buf += d;
      const m = pattern.exec(buf);
      if (m) {
        clearTimeout(timer);
        res(m);
      }
    });
    void p.exited.then((code) => {
      clearTimeout(timer);
      rej(new Error(`${p.name} exited with code ${code} before it was ready`));
    });
  });
}

async function waitForHttp(url: string, p: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let dead = false;
  void p.exited.then(() => (dead = true));
  while (Date.now() < deadline) {
    if (dead) throw new Error(`${p.name} exited before it was ready`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${p.name}: ${url} not ready after ${timeoutMs} ms`);
}

/**
 * Starts a node and resolves once it listens (after loading and warming up the model).
 * `listen`: a port (0: any free one) or a socket already listening, which the node takes over.
 * With `weightsUrl` it loads from the weight store there instead of the model file.
 */
export async function startNode(name: string, opts: StackOptions, onLine: (l: string) => void, nodeToken = "", listen: number | Server = 0, metricsToken = "", weightsUrl?: string, role: NodeProcess["role"] = "full", priorsKey?: string): Promise<NodeProcess & { proc: Child }> {
  const source = weightsUrl ? ["--weights", weightsUrl] : ["--model", opts.modelPath];
  const socket = typeof listen === "number" ? await listenLoopback(listen) : listen;
  const args = ["workers/node/server.ts", ...source, "--listen-fd", "3", "--name", name, "--role", role];
  if (weightsUrl && opts.weightsBudgetMb !== undefined) args.push("--weights-budget-mb", String(opts.weightsBudgetMb));
  if (opts.quant) args.push("--quant", opts.quant);
  if (opts.ctx !== undefined) args.push("--ctx", String(opts.ctx));
  if (priorsKey) args.push("--priors-key", priorsKey);
  if (opts.tokenDelayMs) args.push("--token-delay-ms", String(opts.tokenDelayMs));
  if (opts.traceDelayMs && role === "full") args.push("--trace-delay-ms", String(opts.traceDelayMs));
  if (opts.nodeArgs) args.push(...opts.nodeArgs);
  const proc = new Child(name, args, { env: { ...process.env, DART_NODE_TOKEN: nodeToken, DART_METRICS_TOKEN: metricsToken }, onLine, sockets: [socket] });
  let m: RegExpExecArray;
  try {
    m = await waitForLine(proc, /listening (http:\/\/\S+)/, 90_000);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return { name, url: m[1]!, role, pid: await proc.started, proc, stop: () => proc.stop() };
}

/** A missing model file is one clear line, before anything starts. */
export function checkModelFile(path: string): void {
  if (!existsSync(path)) throw new Error(`no model file at ${path}: set DART_MODEL_DIR to the folder that holds it (README, "Model files")`);
  checkNotTokenizer(path);
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  checkModelFile(opts.modelPath);
  if (opts.port) await assertPortFree(opts.port); // a one-line error before anything starts
  const lines: string[] = [];
  const onLine = (l: string) => {
    lines.push(l);
    if (lines.length > 400) lines.shift();
    opts.onLog?.(l);
  };
  const procs: Child[] = [];
  const nodeSockets: Server[] = [];
  const cleanups: (() => void)[] = [];
  const stopAll = async () => {
    for (const s of nodeSockets) if (s.listening) s.close(); // not handed to a node yet
    await Promise.all(procs.map((p) => p.stop()));
    for (const c of cleanups) c();
  };
  try {
    const fromStore = (opts.nodeWeights ?? "store") === "store";
    const sparseCount = opts.sparseNodes ?? 0;
    let prefix = "";
    // Sparse nodes always load from the store: they hold shards, never the model file.
    if (fromStore || sparseCount > 0) {
      // Shard the model once (.cache/shards) and upload it once into wrangler's local R2 state.
      const seeded = await seedLocalWeights({ modelPath: opts.modelPath, persistDir: opts.persistDir, dtype: opts.quant === "q8_0" ? "q8_0" : undefined });
      prefix = seeded.prefix;
      onLine(seeded.skipped ? `[stack] weights: local R2 already holds ${prefix}/` : `[stack] weights: seeded ${seeded.objects} objects (${seeded.bytes} B) into local R2 under ${prefix}/`);
    }
    // Nodes accept only the Session objects: a fresh shared bearer per stack (also the weights route's).
    const nodeToken = randomBytes(16).toString("hex");
    // Nodes read DART's per-model priors from .cache/dart under the file's sha256 (dart prepare), or save them there.
    const priorsKey = await priorsKeyOfFile(opts.modelPath);
    const metricsToken = opts.metricsToken ?? "metrics-" + randomBytes(16).toString("hex");
    // Node sockets are bound up front (port 0, read back) so wrangler starts while the nodes
    // load and warm up (from a file), or before they load (from the store, which wrangler serves).
    for (let i = 0; i < (opts.nodes ?? 1) + sparseCount; i++) nodeSockets.push(await listenLoopback(0));
    const roles = nodeSockets.map((_, i): NodeProcess["role"] => (i < nodeSockets.length - sparseCount ? "full" : "sparse"));
    // Ports are read now: a node that starts at once (from a file) takes its socket over and
    // the parent's copy closes, after which it reports no port.
    const nodeUrls = nodeSockets.map((s) => `http://127.0.0.1:${portOf(s)}`);
    const urlsOf = (role: NodeProcess["role"]) => nodeUrls.filter((_, i) => roles[i] === role).join(",");
    const port = opts.port || (await freePort());
    let wranglerReady!: { resolve(): void; reject(e: unknown): void };
    const wranglerUp = new Promise<void>((resolve, reject) => (wranglerReady = { resolve, reject }));
    wranglerUp.catch(() => {});
    const storeUrl = `http://127.0.0.1:${port}/weights/${prefix}/`;
    const nodesReady = (async () => {
      if (fromStore || sparseCount > 0) await wranglerUp;
      return Promise.all(
        nodeSockets.map(async (socket, i) => {
          const role = roles[i]!;
          const name = role === "full" ? `node-${i + 1}` : `sparse-${i + 1 - (nodeSockets.length - sparseCount)}`;
          const n = await startNode(name, opts, onLine, nodeToken, socket, metricsToken, fromStore || role === "sparse" ? storeUrl : undefined, role, priorsKey);
          procs.push(n.proc);
          return n;
        }),
      );
    })();
    nodesReady.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
    // A GGUF model's own chat template unless one is configured.
    const chatTemplate = opts.chatTemplate ?? chatTemplateSetting(opts.modelPath);
    const vars: Record<string, string> = {
      // Clients name the model the stack serves, not wrangler.toml's default (stories260K).
      MODEL_ID: modelNameOf(opts.modelPath),
      NODES: urlsOf("full"),
      ...(sparseCount > 0 ? { SPARSE_NODES: urlsOf("sparse") } : {}),
      NODE_TOKEN: nodeToken,
      METRICS_TOKEN: metricsToken,
      API_KEY_HASHES: await apiKeyHashes(opts.apiKeys),
      ...(opts.rateLimitPerMinute !== undefined ? { RATE_LIMIT_PER_MINUTE: String(opts.rateLimitPerMinute) } : {}),
      ...(opts.maxBodyBytes !== undefined ? { MAX_BODY_BYTES: String(opts.maxBodyBytes) } : {}),
      ...(chatTemplate !== undefined ? { CHAT_TEMPLATE: chatTemplate } : {}),
      ...opts.vars,
    };
    // Secrets go to wrangler through a file only this user can read, never the command line.
    const wranglerVarArgs = wranglerVars(opts.persistDir, vars);
    cleanups.push(wranglerVarArgs.remove);
    const wranglerJs = join(dirname(createRequire(join(ROOT, "package.json")).resolve("wrangler/package.json")), "bin", "wrangler.js");
    const args = [
      wranglerJs, "dev",
      "--config", join(ROOT, "wrangler.toml"),
      "--ip", "127.0.0.1", "--port", String(port),
      "--inspector-port", String(await freePort()),
      "--persist-to", opts.persistDir,
      "--show-interactive-dev-session=false",
      "--log-level", "warn",
      ...wranglerVarArgs.args,
    ];
    const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" };
    const url = `http://127.0.0.1:${port}`;
    let wrangler: Child;
    const startWrangler = () => {
      wrangler = new Child("wrangler", args, { env, onLine });
      procs.push(wrangler);
      return waitForHttp(`${url}/healthz`, wrangler, 90_000);
    };
    startWrangler().then(wranglerReady.resolve, wranglerReady.reject);
    const [nodes] = await Promise.all([nodesReady, wranglerUp]);
    // Ready means a chat would succeed: the gateway reaches a loaded node with this stack's token.
    const readyz = () => waitForHttp(`${url}/readyz`, wrangler, 120_000);
    await readyz();
    const restartGateway = async (signal: NodeJS.Signals = "SIGTERM", whileStopped?: () => void | Promise<void>) => {
      await wrangler.stop(signal);
      procs.splice(procs.indexOf(wrangler), 1);
      await whileStopped?.();
      await startWrangler();
      await readyz();
    };
    return { url, model: vars.MODEL_ID!, metricsToken, nodes: nodes.map(({ name, url, role, pid, stop }) => ({ name, url, role, pid, stop })), logs: () => lines.join("\n"), restartGateway, stop: stopAll };
  } catch (e) {
    await stopAll();
    throw new StackStartError((e as Error).message, lines.join("\n"));
  }
}

/** The stack did not start; `reason` is one line, the message adds every process's output. */
export class StackStartError extends Error {
  readonly reason: string;
  constructor(reason: string, output: string) {
    super(`${reason}\n--- stack output ---\n${output}`);
    this.name = "StackStartError";
    this.reason = reason;
  }
}
