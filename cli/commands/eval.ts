import { readFileSync, existsSync } from "node:fs";
import { perplexity } from "../../shared/eval/perplexity.ts";
import { DEFAULT_DOCUMENTS, type DocumentOptions } from "../../shared/eval/documents.ts";
import { evaluate, references } from "../../shared/eval/sweep.ts";
import { loadEngineBundle } from "../model-files.ts";
import { weightsFlag, weightsUsage } from "../weights-flag.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import { dartFlagOptions, dartFlagUsage, dartSettingsFromFlags } from "../dart-flags.ts";
import { buildSet, fileDocuments, SETS } from "../eval-sets.ts";
import { preparePriors, priorNeeds } from "../priors-cache.ts";
import { progress } from "../progress.ts";
import { modelDir } from "../model-dir.ts";

export const usage = `dart eval --model <file> [--tokenizer <file>] (--text <file> | --set ${SETS.join("|")}) [--max-tokens N] [--json]
              [--docs N] [--prompt-tokens N] [--part-tokens N] [--generate N] [--events] [--data-dir <dir>] [--weights f32|q8_0]
              ${dartFlagUsage}
  Without --method: perplexity over --text, tokenized once and cut into chunks of
  (context length - 1) tokens, each scored after its own BOS (--max-tokens limits the tokens scored).
  With --method: the online protocol (docs/quality.md) on documents from --text (blank-line
  separated) or a built-in --set, against dense: perplexity, agreement, klToDense,
  effectiveSparsity, remasks, denseTokenFraction; --generate N adds ROUGE-L of N greedy tokens.
  ${weightsUsage}`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    text: { type: "string" },
    set: { type: "string" },
    "data-dir": { type: "string" },
    "max-tokens": { type: "string" },
    docs: { type: "string" },
    "prompt-tokens": { type: "string" },
    "part-tokens": { type: "string" },
    generate: { type: "string" },
    events: { type: "boolean" },
    json: { type: "boolean" },
    weights: { type: "string" },
    ...dartFlagOptions,
  });
  const modelPath = required(v, "model");
  if (!v.text && !v.set) throw new UsageError("missing --text (or --set)");
  if (v.text && !existsSync(v.text)) throw new UsageError(`text file not found: ${v.text}`);
  const online = v.method !== undefined || v.set !== undefined;
  const settings = dartSettingsFromFlags(v);
  const docOpts: DocumentOptions = {
    docs: numberFlag(v, "docs", DEFAULT_DOCUMENTS.docs, { integer: true, min: 1 }),
    promptLen: numberFlag(v, "prompt-tokens", DEFAULT_DOCUMENTS.promptLen, { integer: true, min: 1 }),
    partLen: numberFlag(v, "part-tokens", DEFAULT_DOCUMENTS.partLen, { integer: true, min: 2 }),
  };
  const generateTokens = numberFlag(v, "generate", 0, { integer: true, min: 0 });
  const maxTokens = numberFlag(v, "max-tokens", Infinity, { integer: true, min: 1 });
  const { transformer, tokenizer, bytes } = loadEngineBundle(modelPath, v.tokenizer, { weights: weightsFlag(v.weights) });
  const show = progress("eval", v.json === true);

  if (!online) {
    const all = tokenizer.encode(readFileSync(v.text!, "utf8"), { bos: false });
    const tokens = Number.isFinite(maxTokens) ? all.slice(0, maxTokens) : all;
    const t0 = performance.now();
    const r = perplexity(transformer, tokens, { bosId: tokenizer.bosId, onWindow: (d, n) => show(d, n, "windows") });
    show.done();
    const seconds = (performance.now() - t0) / 1000;
    const out = { perplexity: r.perplexity, nll: r.nll, tokens: r.tokens, windows: r.windows, windowLength: transformer.config.seqLen, seconds };
    if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
    else {
      process.stdout.write(
        `perplexity ${r.perplexity.toFixed(4)} (mean NLL ${r.nll.toFixed(4)} nats/token) over ${r.tokens} tokens in ${r.windows} windows of <= ${transformer.config.seqLen} tokens\n`,
      );
    }
    return;
  }

  const dataDir = v["data-dir"] ?? modelDir();
  const docs = v.set ? buildSet(v.set, tokenizer, dataDir, docOpts) : fileDocuments(tokenizer, v.text!, docOpts, transformer.config.seqLen);
  if (docs.length === 0) throw new UsageError(`no document longer than the prompt (${docOpts.promptLen} tokens) in the text`);
  preparePriors(transformer, tokenizer, bytes, priorNeeds(settings.method, settings.ranking, settings.prior));
  const refs = references(transformer, tokenizer, docs, generateTokens);
  const r = evaluate(transformer, tokenizer, docs, refs, settings, v.events === true, (d, n) => show(d, n, "documents"));
  show.done();
  if (v.json) process.stdout.write(JSON.stringify({ ...r, settings, set: v.set ?? v.text }) + "\n");
  else {
    const f = (x: number | undefined, d = 3) => (x === undefined ? "-" : x.toFixed(d));
    process.stdout.write(
      `${settings.method} sparsity ${settings.sparsity}: perplexity ${f(r.perplexity)}, agreement ${f(r.agreement)}, KL ${f(r.klToDense, 4)}, ` +
        `effective sparsity ${f(r.effectiveSparsity)}, dense tokens ${f(r.denseTokenFraction)}, re-masks ${r.remasks}` +
        (r.rougeL !== undefined ? `, ROUGE-L ${f(r.rougeL)}` : "") +
        (r.falseAlarmRate !== undefined ? `, false alarms ${f(r.falseAlarmRate)}, detections ${f(r.detectionRate)}` : "") +
        ` over ${r.tokens} tokens in ${r.documents} documents\n`,
    );
  }
}
