import { generate } from "../../shared/engine/generate.ts";
import { loadBundle } from "../model-files.ts";
import { numberFlag, parseFlags, required } from "../usage.ts";

export const usage = `dart generate --model <file> [--tokenizer <file>] --prompt <text> --max-tokens <n>
              [--temperature <t>] [--top-p <p>] [--seed <s>] [--json]
  Prints the prompt followed by its continuation (greedy when --temperature is 0, the default).`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    prompt: { type: "string" },
    "max-tokens": { type: "string" },
    temperature: { type: "string" },
    "top-p": { type: "string" },
    seed: { type: "string" },
    json: { type: "boolean" },
  });
  const modelPath = required(v, "model");
  const prompt = v.prompt ?? "";
  if (v.prompt === undefined) required(v, "prompt");
  const maxTokens = numberFlag(v, "max-tokens", NaN, { integer: true, min: 0 });
  if (Number.isNaN(maxTokens)) required(v, "max-tokens");
  const temperature = numberFlag(v, "temperature", 0, { min: 0 });
  const topP = numberFlag(v, "top-p", 1, { min: 0, max: 1 });
  const seed = numberFlag(v, "seed", Date.now() >>> 0, { integer: true, min: 0 });
  const { transformer, tokenizer } = loadBundle(modelPath, v.tokenizer);

  const json = v.json === true;
  if (!json) process.stdout.write(tokenizer.decode(tokenizer.encode(prompt, { bos: true })));
  const r = generate(transformer, tokenizer, prompt, {
    maxTokens,
    temperature,
    topP: topP === 0 ? 1 : topP,
    seed,
    onText: json ? undefined : (t) => process.stdout.write(t),
  });
  const tokensPerSecond = r.tokens.length > 1 ? ((r.tokens.length - 1) / r.decodeMs) * 1000 : 0;
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
    };
    process.stdout.write(JSON.stringify(out) + "\n");
  } else {
    process.stdout.write("\n");
    process.stderr.write(`achieved tok/s: ${tokensPerSecond.toFixed(1)}\n`);
  }
}
