// `dart serve-bench`: starts the local stack on a temporary state folder and measures what a
// client sees: stack start time, time to first token and tokens/s of a streamed completion,
// and per-turn latency with the KV cache reuse of a multi-turn session, per DART method.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import OpenAI from "openai";
import { progress } from "../progress.ts";
import { startStack } from "../stack.ts";
import { numberFlag, parseFlags, UsageError } from "../usage.ts";
import type { TurnWeightStats } from "../../workers/node/node-weights.ts";
import { modelDir } from "../model-dir.ts";

export const usage = `dart serve-bench [--model <file>] [--turns <n>] [--max-tokens <n>] [--methods dense,dart] [--json]
                 [--node-weights store|file] [--weights-budget-mb <n>]
  Starts the local stack (one node) on a temporary folder and prints one JSON object of timings.
  Progress goes to stderr on a terminal; --json (the output is JSON either way) silences it.
  With the node on the weight store (default), each turn also reports what it fetched
  (bytes and shards from R2, cache hits) under the node's resident budget.`;

const TURNS = ["Once upon a time", "The dog ran to the park.", "Then it started to rain.", "Tom found a red ball.", "At night they went home.", "The next day was sunny.", "Lily met a big cat.", "They all had lunch."];

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, turns: { type: "string" }, "max-tokens": { type: "string" }, methods: { type: "string" }, json: { type: "boolean" },
    "node-weights": { type: "string" }, "weights-budget-mb": { type: "string" },
  });
  const nodeWeights = v["node-weights"] ?? "store";
  if (nodeWeights !== "store" && nodeWeights !== "file") throw new UsageError(`--node-weights must be store or file, got ${nodeWeights}`);
  const weightsBudgetMb = v["weights-budget-mb"] !== undefined ? numberFlag(v, "weights-budget-mb", 0, { min: 0 }) : undefined;
  const modelPath = v.model ?? join(modelDir(), "stories260K.bin");
  const turns = numberFlag(v, "turns", 8, { integer: true, min: 1, max: TURNS.length });
  const maxTokens = numberFlag(v, "max-tokens", 32, { integer: true, min: 1 });
  const methods = (v.methods ?? "dense,dart").split(",");
  const persistDir = mkdtempSync(join(tmpdir(), "dart-bench-"));
  const key = "sk-bench";
  const show = progress("serve-bench", v.json === true);
  // Steps: the stack start, then per method the stream, each turn and the cold turn.
  const steps = 1 + methods.length * (turns + 2);
  let step = 0;
  const tick = () => show(++step, steps, "steps");
  show(0, steps, "steps");
  const t0 = performance.now();
  const stack = await startStack({ apiKeys: [key], nodes: 1, modelPath, persistDir, nodeWeights, weightsBudgetMb });
  const startMs = performance.now() - t0;
  tick();
  const client = new OpenAI({ apiKey: key, baseURL: `${stack.url}/v1`, maxRetries: 0 });
  const result: Record<string, unknown> = { startMs: Math.round(startMs) };
  if (nodeWeights === "store") {
    const w = ((await (await fetch(`${stack.nodes[0]!.url}/stats`, { headers: { authorization: `Bearer ${stack.metricsToken}` } })).json()) as { weights: Record<string, unknown> & { store: Record<string, number> } }).weights;
    result.weights = {
      source: w.source, ffnBytes: w.ffnBytes, baseBytes: w.baseBytes, budgetBytes: w.budgetBytes, loadMs: Math.round(w.loadMs as number),
      verifiedBytesAtLoad: w.verifiedBytesAtLoad, residentBytesAfterLoad: w.store.residentBytes,
    };
  }
  try {
    for (const method of methods) {
      // Streaming: time to first token and client-side tokens/s.
      const s0 = performance.now();
      const stream = await client.completions.create({ model: "stories260K", prompt: "Once upon a time", max_tokens: 256, temperature: 0, stream: true, stream_options: { include_usage: true }, dart: { method } } as unknown as OpenAI.CompletionCreateParamsStreaming);
      let first = 0;
      let tokens = 0;
      for await (const c of stream) {
        if (!first && c.choices[0]?.text) first = performance.now();
        if (c.usage) tokens = c.usage.completion_tokens;
      }
      const end = performance.now();
      tick();
      // A multi-turn session: latency per turn and the share of the prompt served from cache.
      let session: string | undefined;
      const perTurn: { ms: number; prompt: number; cached: number }[] = [];
      for (const content of TURNS.slice(0, turns)) {
        const a = performance.now();
        const r = await client.chat.completions.create({ model: "stories260K", messages: [{ role: "user", content }], max_tokens: maxTokens, temperature: 0, dart: { method }, ...(session ? { session_id: session } : {}) } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
        session ??= (r as unknown as { session_id: string }).session_id;
        perTurn.push({ ms: Math.round(performance.now() - a), prompt: r.usage!.prompt_tokens, cached: r.usage!.prompt_tokens_details!.cached_tokens ?? 0 });
        tick();
      }
      // The same conversation sent cold (a new session with the whole transcript): no cache to reuse.
      const view = (await (await fetch(`${stack.url}/v1/sessions/${session}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { messages: { role: string; content: string }[] };
      const history = view.messages.slice(0, -2).map((m) => ({ role: m.role as "user" | "assistant", content: m.content }));
      const c0 = performance.now();
      const cold = await client.chat.completions.create({ model: "stories260K", messages: [...history, { role: "user", content: TURNS[turns - 1]! }], max_tokens: maxTokens, temperature: 0, dart: { method } } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming);
      tick();
      const coldLastTurn = { ms: Math.round(performance.now() - c0), prompt: cold.usage!.prompt_tokens, cached: cold.usage!.prompt_tokens_details!.cached_tokens ?? 0 };
      // Node-side prefill time of the last warm turn and of the cold one (less noisy than round trips).
      const stats = (await (await fetch(`${stack.nodes[0]!.url}/stats`, { headers: { authorization: `Bearer ${stack.metricsToken}` } })).json()) as { turns: { prefillMs: number; promptTokens: number; cachedTokens: number; weights?: TurnWeightStats }[] };
      // What each turn of the session cost the weight store (the node's per-turn stats).
      const weightTurns = stats.turns.slice(-(turns + 1), -1).map((t) => t.weights).filter((w) => w !== undefined);
      const [warmNode, coldNode] = stats.turns.slice(-2);
      result[method] = {
        prefillMs: { warm: Number(warmNode!.prefillMs.toFixed(1)), cold: Number(coldNode!.prefillMs.toFixed(1)) },
        coldLastTurn,
        stream: { ttftMs: Math.round(first - s0), tokens, tokensPerSecond: Math.round((tokens - 1) / ((end - first) / 1000)) },
        turns: perTurn,
        meanTurnMs: Math.round(perTurn.reduce((a, t) => a + t.ms, 0) / perTurn.length),
        cachedShare: Number((perTurn.reduce((a, t) => a + t.cached, 0) / perTurn.reduce((a, t) => a + t.prompt, 0)).toFixed(3)),
        ...(weightTurns.length ? {
          weightsPerTurn: weightTurns.map((w) => ({ need: w.need, bytesFetched: w.bytesFetched, shardsFetched: w.shardsFetched, cacheHits: w.cacheHits, residentBytes: w.residentBytes, prepareMs: Number(w.prepareMs.toFixed(1)) })),
          weightsBytesFetchedPerTurn: weightTurns.map((w) => w.bytesFetched),
        } : {}),
      };
    }
  } finally {
    show.done();
    await stack.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}
