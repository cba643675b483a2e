// `dart serve`: the whole local stack (wrangler dev + inference nodes) until Ctrl-C.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { constants } from "node:os";
import { join, resolve } from "node:path";
import { assertPortFree } from "../ports.ts";
import { checkModelFile, StackStartError, startStack } from "../stack.ts";
import { stopAllChildren } from "../supervise.ts";
import { numberFlag, parseFlags, UsageError } from "../usage.ts";
import { modelDir } from "../model-dir.ts";
import { weightsFlag } from "../weights-flag.ts";

export const usage = `dart serve [--port <n>] [--nodes <n>] [--sparse-nodes <n>] [--prefill kv|masked] [--model <file>]
           [--persist-to <dir>] [--node-weights store|file] [--weights-budget-mb <n>] [--ctx <n>] [--quant f32|q8_0]
  Starts the gateway (wrangler dev), Session objects and inference nodes locally: --nodes full
  nodes (default 1: the whole model; they trace) and --sparse-nodes sparse nodes (default 1:
  base weights and only the masks' FFN shards; they decode traced turns; 0 for full nodes only).
  --prefill: how a sparse node fills its KV cache for the traced tokens (default kv: the full
  node's entries travel with the turn; masked: it prefills with the new masks).
  By default the model is cut into neuron shards and seeded into the local R2 bucket (first
  run only) and nodes load it from there through the gateway's /weights route, checking
  every sha256; --node-weights file makes nodes read the model file instead.
  --weights-budget-mb bounds each node's resident FFN shards between turns.
  --quant q8_0 runs the stack int8: the shard set is cut in Q8_0 (3.8x fewer bytes per shard and
  per mask change than f32; cached and seeded apart from the f32 set, under <model>-q8_0/) and
  every node holds Q8_0 weights and runs int8 kernels (file nodes quantize at load).
  --ctx: KV cache positions per session (default 4096, never above the model's own context
  length, so a 128K-context file does not reserve 128K positions); longer turns get a 400
  context_length_exceeded.
  PORT sets the port (default 8787), DART_API_KEY the API key (default: a dev key kept in the
  persist folder), DART_METRICS_TOKEN the bearer for GET /metrics (default: a random one),
  DART_MODEL_DIR the model folder (default ../shared/data).`;

/** A development key that survives restarts, so sessions (namespaced by key) stay reachable. */
function devKey(persistDir: string): string {
  const file = join(persistDir, "dart-dev-api-key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const key = "sk-dev-" + randomBytes(18).toString("hex");
  mkdirSync(persistDir, { recursive: true });
  writeFileSync(file, key + "\n", { mode: 0o600 });
  return key;
}

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    port: { type: "string" },
    nodes: { type: "string" },
    "sparse-nodes": { type: "string" },
    prefill: { type: "string" },
    model: { type: "string" },
    "persist-to": { type: "string" },
    "node-weights": { type: "string" },
    "weights-budget-mb": { type: "string" },
    ctx: { type: "string" },
    quant: { type: "string" },
  });
  const quant = weightsFlag(v.quant, "--quant");
  const nodeWeights = v["node-weights"] ?? "store";
  if (nodeWeights !== "store" && nodeWeights !== "file") throw new UsageError(`--node-weights must be store or file, got ${nodeWeights}`);
  const weightsBudgetMb = v["weights-budget-mb"] !== undefined ? numberFlag(v, "weights-budget-mb", 0, { min: 0 }) : undefined;
  const ctx = v.ctx === undefined ? undefined : numberFlag(v, "ctx", 0, { integer: true, min: 1 });
  const port = numberFlag(v, "port", Number(process.env.PORT ?? 8787), { integer: true, min: 1, max: 65535 });
  const nodes = numberFlag(v, "nodes", 1, { integer: true, min: 1, max: 16 });
  const sparseNodes = numberFlag(v, "sparse-nodes", 1, { integer: true, min: 0, max: 16 });
  const prefill = v.prefill ?? "kv";
  if (prefill !== "kv" && prefill !== "masked") throw new UsageError(`--prefill must be kv or masked, got ${prefill}`);
  const modelPath = v.model ?? join(modelDir(), "stories260K.bin");
  const persistDir = resolve(v["persist-to"] ?? ".wrangler/state");
  const apiKey = process.env.DART_API_KEY || devKey(persistDir);

  try {
    checkModelFile(modelPath);
    await assertPortFree(port);
  } catch (e) {
    return fail(e as Error);
  }
  // Stop signals count from the first moment: one during start-up stops what has started.
  const signalled = new Promise<NodeJS.Signals>((res) => {
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(sig, () => res(sig));
  });
  process.stderr.write(`starting ${nodes} full and ${sparseNodes} sparse inference node(s) and wrangler dev (model ${modelPath})...\n`);
  const metricsToken = process.env.DART_METRICS_TOKEN || undefined;
  const starting = startStack({ port, apiKeys: [apiKey], nodes, sparseNodes, vars: { PREFILL_MODE: prefill }, modelPath, persistDir, metricsToken, nodeWeights, weightsBudgetMb, ctx, quant, onLog: (l) => process.stderr.write(l + "\n") });
  starting.catch(() => {}); // raced below
  const first = await Promise.race([starting.then((stack) => ({ stack }), (error: Error) => ({ error })), signalled.then((signal) => ({ signal }))]);
  if ("signal" in first) return stopOn(first.signal, starting);
  if ("error" in first) return fail(first.error);
  const { stack } = first;
  const body = JSON.stringify({ model: stack.model, messages: [{ role: "user", content: "Once upon a time" }], max_tokens: 64 });
  process.stdout.write(
    [
      ``,
      `dart-edge is serving at ${stack.url}`,
      `nodes: ${stack.nodes.map((n) => `${n.url} (${n.role})`).join(", ")}`,
      `API key: ${apiKey}`,
      `Playground: ${stack.url}/playground`,
      `Metrics: ${stack.url}/metrics (gateway), <node>/metrics (nodes); bearer: an API key, or ${stack.metricsToken}`,
      ``,
      `curl ${stack.url}/v1/chat/completions -H "Authorization: Bearer ${apiKey}" -H "Content-Type: application/json" -d '${body}'`,
      ``,
      `Ctrl-C stops everything.`,
      ``,
    ].join("\n"),
  );
  await signalled;
  await stack.stop();
}

/** Start-up failed: the processes' output went to stderr as it came; the cause in one line, exit 1. */
function fail(e: Error): never {
  process.stderr.write(`dart serve: ${e instanceof StackStartError ? e.reason : e.message}\n`);
  process.exit(1);
}

/** A stop signal before the stack was up: stop every child started so far, exit 128+n. */
async function stopOn(signal: NodeJS.Signals, starting: Promise<unknown>): Promise<never> {
  process.stderr.write(`dart serve: ${signal} while starting; stopping what has started\n`);
  await stopAllChildren();
  // startStack then fails and cleans up after itself (the secrets file); give it a moment.
  await Promise.race([starting.catch(() => {}), new Promise((r) => setTimeout(r, 3000))]);
  process.exit(128 + constants.signals[signal]);
}
