import { readFileSync, existsSync } from "node:fs";
import { perplexity } from "../../shared/eval/perplexity.ts";
import { loadBundle } from "../model-files.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";

export const usage = `dart eval --model <file> [--tokenizer <file>] --text <file> [--max-tokens N] [--json]
  Perplexity over the text: tokenized once, cut into chunks of (context length - 1)
  tokens, each scored after its own BOS. --max-tokens limits how many tokens are scored.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    text: { type: "string" },
    "max-tokens": { type: "string" },
    json: { type: "boolean" },
  });
  const modelPath = required(v, "model");
  const textPath = required(v, "text");
  if (!existsSync(textPath)) throw new UsageError(`text file not found: ${textPath}`);
  const maxTokens = numberFlag(v, "max-tokens", Infinity, { integer: true, min: 1 });
  const { transformer, tokenizer } = loadBundle(modelPath, v.tokenizer);
  const text = readFileSync(textPath, "utf8");
  const all = tokenizer.encode(text, { bos: false });
  const tokens = Number.isFinite(maxTokens) ? all.slice(0, maxTokens) : all;
  const t0 = performance.now();
  const r = perplexity(transformer, tokens, { bosId: tokenizer.bosId });
  const seconds = (performance.now() - t0) / 1000;
  const out = { perplexity: r.perplexity, nll: r.nll, tokens: r.tokens, windows: r.windows, windowLength: transformer.config.seqLen, seconds };
  if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
  else {
    process.stdout.write(
      `perplexity ${r.perplexity.toFixed(4)} (mean NLL ${r.nll.toFixed(4)} nats/token) over ${r.tokens} tokens in ${r.windows} windows of <= ${transformer.config.seqLen} tokens\n`,
    );
  }
}
