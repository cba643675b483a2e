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
import { residencyBench } from "../residency-bench.ts";
import { splitBench } from "../split-bench.ts";

export const usage = `dart serve-bench [--model <file>] [--turns <n>] [--max-tokens <n>] [--methods dense,dart] [--json]
                 [--node-weights store|file] [--weights-budget-mb <n>] [--sparse-nodes <n>]
       dart serve-bench --split [--model <file>] [--turns <n>] [--max-tokens <n>] [--sparsity <s>] [--prefill kv|masked] [--json]
       dart serve-bench --residency [--model <file> [--tokenizer <file>]] [--sparsity 0.5,0.7] [--sessions 1,16] [--json]
  Starts the local stack (one full node, plus --sparse-nodes sparse ones) on a temporary folder
  and prints one JSON object of timings, and per node its role, FFN bytes, resident FFN bytes
  and RSS (\`nodes\`). Progress goes to stderr on a terminal; --json (the output is JSON either
  way) silences it. With the node on the weight store (default), each turn also reports what it
  fetched (bytes and shards from R2, cache hits) under the node's resident budget.
  --split: in-process, an 8-turn conversation switching topic traced on a full node and decoded
  on a sparse node: bytes fetched per turn, resident FFN bytes, time to first token with the
  trace hop against one full node.
  --residency: per node alone in its own process, resident FFN bytes and RSS of a full node and
  of sparse nodes holding the masks of 1 or 16 sessions (seeded random masks plus a prior's).`;

const TURNS = ["Once upon a time", "The dog ran to the park.", "Then it started to rain.", "Tom found a red ball.", "At night they went home.", "The next day was sunny.", "Lily met a big cat.", "They all had lunch."];

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, turns: { type: "string" }, "max-tokens": { type: "string" }, methods: { type: "string" }, json: { type: "boolean" },
    "node-weights": { type: "string" }, "weights-budget-mb": { type: "string" }, "sparse-nodes": { type: "string" },
    split: { type: "boolean" }, residency: { type: "boolean" }, sparsity: { type: "string" }, sessions: { type: "string" }, prefill: { type: "string" }, tokenizer: { type: "string" },
  });
  if (v.residency) return residency(v);
  if (v.split) return split(v);
  const sparseNodes = numberFlag(v, "sparse-nodes", 0, { integer: true, min: 0, max: 8 });
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
  const stack = await startStack({ apiKeys: [key], nodes: 1, sparseNodes, modelPath, persistDir, nodeWeights, weightsBudgetMb });
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
    result.nodes = await nodeMemory(stack.nodes, stack.metricsToken);
  } finally {
    show.done();
    await stack.stop();
    rmSync(persistDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + "\n");
}

/** Per node: role, the model's FFN bytes, FFN bytes held, FFN slots allocated, RSS, and what each of its turns fetched. */
async function nodeMemory(nodes: { name: string; url: string; role: string }[], metricsToken: string) {
  return Promise.all(nodes.map(async (n) => {
    const st = (await (await fetch(`${n.url}/stats`, { headers: { authorization: `Bearer ${metricsToken}` } })).json()) as {
      ffn: { total: number; resident: number; allocated: number }; rssBytes: number; turns: { bytesFetched: number }[];
    };
    return {
      name: n.name, role: n.role, ffnBytes: st.ffn.total, residentFfnBytes: st.ffn.resident, allocatedFfnBytes: st.ffn.allocated, rssBytes: st.rssBytes,
      bytesFetchedPerTurn: st.turns.map((t) => t.bytesFetched),
    };
  }));
}

function listFlag(s: string | undefined, fallback: number[]): number[] {
  if (s === undefined) return fallback;
  const out = s.split(",").map(Number);
  if (out.some((x) => !Number.isFinite(x) || x < 0)) throw new UsageError(`expected a list of numbers, got ${s}`);
  return out;
}

async function residency(v: Record<string, string | boolean | undefined>): Promise<void> {
  const modelPath = (v.model as string | undefined) ?? join(modelDir(), "stories260K.bin");
  const sparsity = listFlag(v.sparsity as string | undefined, [0.5, 0.7]);
  if (sparsity.some((x) => x >= 1)) throw new UsageError("--sparsity values must be below 1");
  const show = progress("serve-bench", v.json === true);
  const total = 2 + sparsity.length * listFlag(v.sessions as string | undefined, [1, 16]).length;
  let done = 0;
  show(0, total, "nodes");
  const rows = await residencyBench(modelPath, {
    sparsity, sessions: listFlag(v.sessions as string | undefined, [1, 16]), tokenizerPath: v.tokenizer as string | undefined,
    onRow: () => show(++done, total, "nodes"),
  });
  show.done();
  process.stdout.write(JSON.stringify({ model: modelPath, residency: rows }) + "\n");
}

async function split(v: Record<string, string | boolean | undefined>): Promise<void> {
  const modelPath = (v.model as string | undefined) ?? join(modelDir(), "stories260K.bin");
  const mode = (v.prefill as string | undefined) ?? "kv";
  if (mode !== "kv" && mode !== "masked") throw new UsageError(`--prefill must be kv or masked, got ${mode}`);
  const r = await splitBench(modelPath, modelDir(), {
    sparsity: numberFlag(v, "sparsity", 0.5, { min: 0, max: 0.99 }), turns: numberFlag(v, "turns", 8, { integer: true, min: 1, max: 16 }),
    maxTokens: numberFlag(v, "max-tokens", 32, { integer: true, min: 1 }), mode,
  });
  const later = r.turns.slice(1).map((t) => t.fetchedShareOfFfn).sort((a, b) => a - b);
  const median = (xs: number[]) => (xs.length ? xs[Math.floor((xs.length - 1) / 2)]! : null);
  process.stdout.write(JSON.stringify({
    model: modelPath, prefill: mode, ffnBytes: r.ffnBytes, turns: r.turns,
    bytesFetchedPerTurn: r.turns.map((t) => t.bytesFetched), medianFetchedShareAfterTurn1: median(later),
    ttftMs: { withTraceHop: median(r.turns.map((t) => t.ttftSplitMs).sort((a, b) => a - b)), singleFullNode: median(r.turns.map((t) => t.ttftSingleMs).sort((a, b) => a - b)) },
  }) + "\n");
}
