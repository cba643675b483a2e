// Quality against effective sparsity: run methods over a sweep of nominal sparsities,
// then compare methods at equal *effective* sparsity by interpolating each curve.
import type { Transformer } from "../engine/transformer.ts";
import type { Tokenizer } from "../tokenizer/tokenizer.ts";
import type { DartSettings } from "../dart/settings.ts";
import type { EvalDocument } from "./documents.ts";
import { denseReference, scoreDocument, summarize, type DenseReference, type OnlineSummary } from "./online.ts";

export interface SweepOptions {
  methods: DartSettings["method"][];
  sparsities: number[];
  base: DartSettings;
  generateTokens?: number;
  onPoint?(point: OnlineSummary): void;
}

export function references(tf: Transformer, tok: Tokenizer, docs: EvalDocument[], generateTokens = 0): DenseReference[] {
  return docs.map((d) => denseReference(tf, tok, d, generateTokens));
}

export function evaluate(
  tf: Transformer,
  tok: Tokenizer,
  docs: EvalDocument[],
  refs: DenseReference[],
  settings: DartSettings,
  withEvents = false,
  onDocument?: (done: number, total: number) => void,
): OnlineSummary {
  const scores = docs.map((d, i) => {
    const s = scoreDocument(tf, tok, d, refs[i]!, settings);
    onDocument?.(i + 1, docs.length);
    return s;
  });
  return summarize(settings, scores, withEvents);
}

export function sweep(tf: Transformer, tok: Tokenizer, docs: EvalDocument[], o: SweepOptions): OnlineSummary[] {
  const refs = references(tf, tok, docs, o.generateTokens ?? 0);
  const points: OnlineSummary[] = [];
  for (const method of o.methods) {
    for (const sparsity of method === "dense" ? [0] : o.sparsities) {
      const p = evaluate(tf, tok, docs, refs, { ...o.base, method, sparsity });
      points.push(p);
      o.onPoint?.(p);
    }
  }
  return points;
}

const SNAP = 0.005;

/**
 * A metric at a given effective sparsity, linearly interpolated along one method's curve
 * (perplexity in log space). Null outside the range the curve covers.
 */
export function atEffectiveSparsity(curve: OnlineSummary[], target: number, metric: "perplexity" | "agreement" | "klToDense"): number | null {
  const pts = curve.slice().sort((a, b) => a.effectiveSparsity - b.effectiveSparsity);
  if (!pts.length) return null;
  // Kept counts are whole neurons, so nominal 0.3 lands at 0.302: snap targets that close to an end.
  const lo = pts[0]!.effectiveSparsity, hi = pts.at(-1)!.effectiveSparsity;
  if (target < lo && lo - target <= SNAP) target = lo;
  if (target > hi && target - hi <= SNAP) target = hi;
  for (let i = 0; i + 1 < pts.length; i++) {
    const a = pts[i]!, b = pts[i + 1]!;
    if (target < a.effectiveSparsity - 1e-9 || target > b.effectiveSparsity + 1e-9) continue;
    const t = b.effectiveSparsity === a.effectiveSparsity ? 0 : (target - a.effectiveSparsity) / (b.effectiveSparsity - a.effectiveSparsity);
    if (metric === "perplexity") return Math.exp(Math.log(a.perplexity) + t * (Math.log(b.perplexity) - Math.log(a.perplexity)));
    return a[metric] + t * (b[metric] - a[metric]);
  }
  const exact = pts.find((p) => Math.abs(p.effectiveSparsity - target) < 1e-9);
  return exact ? exact[metric] : null;
}
