import { generateFromIds } from "../../shared/engine/generate.ts";
import { createPruner } from "../../shared/dart/index.ts";
import { loadEngineBundle } from "../model-files.ts";
import { weightsFlag, weightsUsage } from "../weights-flag.ts";
import { numberFlag, parseFlags, required } from "../usage.ts";
import { dartFlagOptions, dartFlagUsage, dartSettingsFromFlags } from "../dart-flags.ts";
import { preparePriors, priorNeeds } from "../priors-cache.ts";

export const usage = `dart generate --model <file> [--tokenizer <file>] --prompt <text> --max-tokens <n>
              [--temperature <t>] [--top-p <p>] [--seed <s>] [--ctx <n>] [--weights f32|q8_0] [--json] [--events]
              ${dartFlagUsage}
  Prints the prompt followed by its continuation (greedy when --temperature is 0, the default).
  --ctx bounds a GGUF model's context (KV cache) below its file's context_length (default 4096).
  ${weightsUsage}`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    prompt: { type: "string" },
    "max-tokens": { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    ctx: { type: "string" },
    json: { type: "boolean" },
    weights: { type: "string" },
    events: { type: "boolean" },
    ...dartFlagOptions,
  });
  const modelPath = required(v, "model");
  const prompt = v.prompt ?? "";
  if (v.prompt === undefined) required(v, "prompt");
  const maxTokens = numberFlag(v, "max-tokens", NaN, { integer: true, min: 0 });
  if (Number.isNaN(maxTokens)) required(v, "max-tokens");
  const temperature = numberFlag(v, "temperature", 0, { min: 0 });
  const topP = numberFlag(v, "top-p", 1, { min: 0, max: 1 });
  const seed = numberFlag(v, "seed", Date.now() >>> 0, { integer: true, min: 0 });
  const settings = dartSettingsFromFlags(v);
  const maxContext = v.ctx === undefined ? undefined : numberFlag(v, "ctx", 0, { integer: true, min: 1 });
  const { transformer, tokenizer, bytes } = loadEngineBundle(modelPath, v.tokenizer, { maxContext, weights: weightsFlag(v.weights) });
  preparePriors(transformer, tokenizer, bytes, priorNeeds(settings.method, settings.ranking, settings.prior));

  const json = v.json === true;
  const state = transformer.newState();
  const pruner = createPruner(transformer, state, settings);
  const promptIds = tokenizer.encode(prompt); // BOS as the file says
  if (promptIds.length === 0) promptIds.push(tokenizer.bosId);
  pruner.beginTurn(0, promptIds.length);
  if (!json) process.stdout.write(tokenizer.decode(promptIds));
  const r = generateFromIds(transformer, tokenizer, promptIds, state, {
    maxTokens,
    temperature,
    topP: topP === 0 ? 1 : topP,
    seed,
    hooks: pruner.hooks,
    beforeForward: (pos, tok, phase) => pruner.beforeForward(pos, tok, phase),
    batchPrompt: true, // the prompt in blocks: DART's prompt phase only traces
    onText: json ? undefined : (t) => process.stdout.write(t),
  });
  const tokensPerSecond = r.tokens.length > 1 ? ((r.tokens.length - 1) / r.decodeMs) * 1000 : 0;
  const stats = pruner.stats();
  if (json) {
    const out = {
      text: r.text,
      completion: r.completion,
      tokens: r.tokens,
      promptTokens: r.promptIds.length,
      completionTokens: r.tokens.length,
      stopReason: r.stopReason,
      tokensPerSecond,
      prefillMs: r.prefillMs,
      decodeMs: r.decodeMs,
      method: settings.method,
      sparsity: settings.sparsity,
      effectiveSparsity: stats.effectiveSparsity,
      denseTokenFraction: stats.tokens ? stats.denseTokens / stats.tokens : 0,
      remasks: stats.remasks,
      masks: pruner.masks(),
      ...(v.events ? { events: pruner.events() } : {}),
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  } else {
    process.stdout.write("\n");
    process.stderr.write(`achieved tok/s: ${tokensPerSecond.toFixed(1)}` + (settings.method === "dense" ? "" : `, effective sparsity ${stats.effectiveSparsity.toFixed(3)}, re-masks ${stats.remasks}`) + "\n");
  }
}
