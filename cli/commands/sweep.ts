// Quality against effective sparsity for every method on the standard sets, plus dart
// ablations; writes JSON, an SVG plot and a markdown table (docs/quality.md quotes them).
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_DART_SETTINGS, METHODS, PRESETS, PRESET_NAMES, type DartSettings, type MethodName } from "../../shared/dart/settings.ts";
import { DART_TUNING } from "../../shared/dart/masking-pruner.ts";
import { DEFAULT_DOCUMENTS, type DocumentOptions } from "../../shared/eval/documents.ts";
import { atEffectiveSparsity, evaluate, references } from "../../shared/eval/sweep.ts";
import type { OnlineSummary } from "../../shared/eval/online.ts";
import { renderPanels, type Panel } from "../../shared/eval/plot-svg.ts";
import { loadBundle } from "../model-files.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import { buildSet, SETS } from "../eval-sets.ts";
import { preparePriors } from "../priors-cache.ts";
import { progress } from "../progress.ts";
import { modelDir } from "../model-dir.ts";

export const usage = `dart sweep --model <file> --out <dir> [--sets ${SETS.join(",")}] [--methods m1,m2,...]
              [--sparsities 0.05,0.1,...] [--docs N] [--generate N] [--ablations] [--presets] [--data-dir <dir>] [--json]
       dart sweep --from <dir>/quality.json --out <dir>   (re-render the plot and table only)
  Runs the online protocol for each method and nominal sparsity; writes <dir>/quality.json,
  <dir>/quality.svg and <dir>/quality-table.md (perplexity at equal effective sparsity).
  --presets adds dart-paper under the reference scripts' configurations (${PRESET_NAMES.join(", ")}),
  and knowledge-drift with the drift detector on.`;

interface Variant {
  label: string;
  method: MethodName;
  settings?: Partial<DartSettings>;
  tuning?: Partial<typeof DART_TUNING>;
}

/** dart with one ingredient removed at a time: what each part is worth. */
const ABLATIONS: Variant[] = [
  { label: "dart, no mean compensation", method: "dart", tuning: { compensate: false } },
  { label: "dart, prior only (no prompt)", method: "dart", tuning: { promptCap: 0 } },
  { label: "dart, no drift re-mask", method: "dart", tuning: { drift: { ...DART_TUNING.drift, trigger: Number.POSITIVE_INFINITY } } },
  { label: "dart, fixed-text prior", method: "dart", settings: { prior: "text" } },
  { label: "dart-paper, auto budget", method: "dart-paper", settings: { budget: "auto" } },
];

/** dart-paper as the reference's shipped scripts run it (the sweep sets the sparsity). */
function presetVariants(): Variant[] {
  const v: Variant[] = PRESET_NAMES.map((name) => ({ label: `dart-paper, ${name} preset`, method: "dart-paper", settings: { ...PRESETS[name] } }));
  v.push({ label: "dart-paper, knowledge-drift preset + drift", method: "dart-paper", settings: { ...PRESETS["knowledge-drift"], drift: true } });
  return v;
}

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    out: { type: "string" },
    sets: { type: "string" },
    methods: { type: "string" },
    sparsities: { type: "string" },
    docs: { type: "string" },
    generate: { type: "string" },
    ablations: { type: "boolean" },
    presets: { type: "boolean" },
    "data-dir": { type: "string" },
    from: { type: "string" },
    json: { type: "boolean" },
  });
  const out = required(v, "out");
  if (v.from) {
    const report = JSON.parse(readFileSync(v.from, "utf8")) as Report;
    writeOutputs(out, report);
    process.stdout.write(markdownTable(report.results, report.dense));
    return;
  }
  const sets = (v.sets ?? SETS.join(",")).split(",");
  for (const s of sets) if (!(SETS as readonly string[]).includes(s)) throw new UsageError(`unknown set "${s}"`);
  const methods = (v.methods ?? "static,griffin,random,dart-paper,dart").split(",") as MethodName[];
  for (const m of methods) if (!METHODS.includes(m)) throw new UsageError(`unknown method "${m}"`);
  const sparsities = (v.sparsities ?? "0.05,0.1,0.2,0.3,0.4,0.5,0.6,0.7").split(",").map(Number);
  if (sparsities.some((s) => !(s >= 0 && s <= 0.9))) throw new UsageError("--sparsities must be numbers in [0, 0.9]");
  const docOpts: DocumentOptions = { ...DEFAULT_DOCUMENTS, docs: numberFlag(v, "docs", DEFAULT_DOCUMENTS.docs, { integer: true, min: 1 }) };
  const generateTokens = numberFlag(v, "generate", 0, { integer: true, min: 0 });
  const dataDir = v["data-dir"] ?? modelDir();
  const { transformer: tf, tokenizer: tok, bytes } = loadBundle(required(v, "model"), v.tokenizer);
  preparePriors(tf, tok, bytes, { proxy: true, generic: ["self", "text"] });

  const variants: Variant[] = [...methods.map((m) => ({ label: m, method: m })), ...(v.ablations ? ABLATIONS : []), ...(v.presets ? presetVariants() : [])];
  const show = progress("sweep", v.json === true);
  const total = sets.length * variants.length * sparsities.length;
  let done = 0;
  const results: Record<string, Record<string, OnlineSummary[]>> = {};
  const dense: Record<string, OnlineSummary> = {};
  const saved = structuredClone(DART_TUNING);
  for (const set of sets) {
    const docs = buildSet(set, tok, dataDir, docOpts);
    const refs = references(tf, tok, docs, generateTokens);
    dense[set] = evaluate(tf, tok, docs, refs, { ...DEFAULT_DART_SETTINGS, method: "dense", sparsity: 0 });
    results[set] = {};
    for (const variant of variants) {
      Object.assign(DART_TUNING, structuredClone(saved), variant.tuning ?? {});
      for (const sparsity of sparsities) {
        const settings: DartSettings = { ...DEFAULT_DART_SETTINGS, ...variant.settings, method: variant.method, sparsity };
        (results[set]![variant.label] ??= []).push(evaluate(tf, tok, docs, refs, settings));
        show(++done, total, "runs");
      }
    }
  }
  Object.assign(DART_TUNING, saved);
  show.done();

  const report: Report = { model: tf.config, documents: docOpts, generateTokens, sparsities, dense, results };
  writeOutputs(out, report);
  if (v.json) process.stdout.write(JSON.stringify(report) + "\n");
  else process.stdout.write(markdownTable(results, dense));
}

interface Report {
  model: unknown;
  documents: DocumentOptions;
  generateTokens: number;
  sparsities: number[];
  dense: Record<string, OnlineSummary>;
  results: Record<string, Record<string, OnlineSummary[]>>;
}

function writeOutputs(out: string, report: Report): void {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "quality.json"), JSON.stringify(report, null, 1) + "\n");
  const panels: Panel[] = [];
  for (const [set, byMethod] of Object.entries(report.results)) {
    const series = (metric: "perplexity" | "agreement") =>
      Object.entries(byMethod).map(([label, pts]) => ({
        label,
        dashed: label.includes(","), // ablations ("dart, no ...") beside the methods
        points: pts.map((p) => ({ x: p.effectiveSparsity, y: p[metric] })),
      }));
    const dense = report.dense[set]!;
    panels.push({ title: `${set}: perplexity (dense ${dense.perplexity.toFixed(2)})`, yLabel: "perplexity (log)", logY: true, series: series("perplexity") });
    panels.push({ title: `${set}: top-1 agreement with dense`, yLabel: "agreement", series: series("agreement") });
  }
  writeFileSync(join(out, "quality.svg"), renderPanels(panels));
  writeFileSync(join(out, "quality-table.md"), markdownTable(report.results, report.dense));
}

const TARGETS = [0.1, 0.2, 0.3, 0.4, 0.5];

function markdownTable(results: Record<string, Record<string, OnlineSummary[]>>, dense: Record<string, OnlineSummary>): string {
  const lines: string[] = [];
  for (const [set, byMethod] of Object.entries(results)) {
    lines.push(`\n#### ${set} (dense perplexity ${dense[set]!.perplexity.toFixed(2)})\n`);
    lines.push(`Perplexity at equal effective sparsity (interpolated along each curve; - where a method never reaches it):\n`);
    lines.push(`| method | ${TARGETS.join(" | ")} |`);
    lines.push(`|---|${TARGETS.map(() => "---:").join("|")}|`);
    for (const [label, pts] of Object.entries(byMethod)) {
      lines.push(`| ${label} | ${TARGETS.map((t) => atEffectiveSparsity(pts, t, "perplexity")?.toFixed(2) ?? "-").join(" | ")} |`);
    }
    lines.push(`\nTop-1 agreement with dense at equal effective sparsity:\n`);
    lines.push(`| method | ${TARGETS.join(" | ")} |`);
    lines.push(`|---|${TARGETS.map(() => "---:").join("|")}|`);
    for (const [label, pts] of Object.entries(byMethod)) {
      lines.push(`| ${label} | ${TARGETS.map((t) => atEffectiveSparsity(pts, t, "agreement")?.toFixed(3) ?? "-").join(" | ")} |`);
    }
    lines.push(`\nPer run (nominal sparsity -> effective sparsity, perplexity, re-masks, dense-token share${Object.values(byMethod)[0]?.[0]?.rougeL !== undefined ? ", ROUGE-L" : ""}, false alarms / detections):\n`);
    lines.push(`| method | nominal | effective | perplexity | agreement | KL | re-masks | dense tokens | ROUGE-L | false alarms | detections |`);
    lines.push(`|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
    for (const [label, pts] of Object.entries(byMethod)) {
      for (const p of pts) {
        const f = (x: number | undefined, d = 3) => (x === undefined ? "-" : x.toFixed(d));
        lines.push(`| ${label} | ${p.sparsity} | ${f(p.effectiveSparsity)} | ${f(p.perplexity, 2)} | ${f(p.agreement)} | ${f(p.klToDense)} | ${p.remasks} | ${f(p.denseTokenFraction, 2)} | ${f(p.rougeL)} | ${f(p.falseAlarmRate, 2)} | ${f(p.detectionRate, 2)} |`);
      }
    }
  }
  return lines.join("\n") + "\n";
}
