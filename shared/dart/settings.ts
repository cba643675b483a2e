// DART settings as a request or the CLI gives them, validated in one place.

export const METHODS = ["dense", "static", "griffin", "random", "dart-paper", "dart"] as const;
export type MethodName = (typeof METHODS)[number];
export const RANKINGS = ["magnitude", "max", "mean", "combined", "product"] as const;
export type RankingMethod = (typeof RANKINGS)[number];
export const BUDGETS = ["uniform", "auto"] as const;
export type BudgetMode = (typeof BUDGETS)[number];

export const AGGREGATIONS = ["l2", "ema"] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];
export const PRIORS = ["self", "text"] as const;

export interface DartSettings {
  method: MethodName;
  /** Fraction of FFN neurons pruned, 0..0.9. */
  sparsity: number;
  /**
   * dart-paper's masking step m, as the reference counts it: the prompt and the first m - 1
   * generated tokens are traced densely and masks apply from the m-th generated token
   * (after a drift, max(1, m - 1) generated tokens are traced). 0 and 1 both mask from the
   * first generated token: the reference's m = 0 also masks the prompt's own forward,
   * which a token-at-a-time prefill cannot do (see docs/quality.md).
   */
  maskingStep: number;
  budget: BudgetMode;
  ranking: RankingMethod;
  /** How traced activations accumulate: sum of squares (L2) or an exponential moving average. */
  aggregation: Aggregation;
  /** EMA decay in (0, 1), used when aggregation is "ema". */
  emaDecay: number;
  /** Explicit per-layer prune ratios; overrides sparsity and budget when set. */
  layerSparsity?: number[];
  /** Generic prior for static and dart: text the model writes itself ("self") or a fixed text. */
  prior: (typeof PRIORS)[number];
  /** Whether dart-paper and dart watch for drift and re-mask (the reference's knowledge_drift switch). */
  drift: boolean;
}

export const DEFAULT_DART_SETTINGS: DartSettings = {
  method: "dart",
  sparsity: 0.5,
  maskingStep: 10,
  budget: "uniform",
  ranking: "combined",
  aggregation: "l2",
  emaDecay: 0.9,
  prior: "self",
  drift: true,
};

/**
 * The reference's shipped benchmark configurations (seeder-research/DART at 19c4a57), as
 * settings of dart-paper. Note that `combined`, the code's default ranking, is what
 * neither script uses. Both scripts leave knowledge_drift off (KNOWLEDGE_DRIFT=false).
 *   auto-benchmark : run_experiment_auto.sh: masking step 0 (masks from the prompt's own
 *                    statistics), `magnitude` ranking, L2, per-layer ratios from the
 *                    adaptive budget, 70% pruning.
 *   knowledge-drift: run_knowledge_drift.sh: masking step 30, `max` ranking, L2,
 *                    per-layer auto budget ("all:auto"), 50% pruning.
 */
export const PRESETS = {
  "auto-benchmark": { method: "dart-paper", maskingStep: 0, ranking: "magnitude", aggregation: "l2", budget: "auto", sparsity: 0.7, drift: false },
  "knowledge-drift": { method: "dart-paper", maskingStep: 30, ranking: "max", aggregation: "l2", budget: "auto", sparsity: 0.5, drift: false },
} as const satisfies Record<string, Partial<DartSettings>>;
export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** Thrown for settings a client or user got wrong; `param` names the field. */
export class DartSettingsError extends Error {
  readonly param: string;
  constructor(param: string, message: string) {
    super(message);
    this.name = "DartSettingsError";
    this.param = param;
  }
}

function oneOf<T extends string>(param: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    throw new DartSettingsError(param, `${param} must be one of ${allowed.join(", ")}; got ${JSON.stringify(v)}`);
  }
  return v as T;
}

/** Merges a partial, untrusted settings object over `base`, validating every field. */
export function parseDartSettings(input: unknown, base: DartSettings = DEFAULT_DART_SETTINGS): DartSettings {
  if (input === undefined || input === null) return { ...base };
  if (typeof input !== "object" || Array.isArray(input)) throw new DartSettingsError("dart", "dart must be an object");
  const o = input as Record<string, unknown>;
  const known = new Set(["preset", "method", "sparsity", "maskingStep", "budget", "ranking", "aggregation", "emaDecay", "layerSparsity", "prior", "drift"]);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new DartSettingsError(`dart.${k}`, `unknown DART setting dart.${k}`);
  // A preset replaces the base; fields given beside it override the preset.
  const s: DartSettings = o.preset === undefined ? { ...base } : { ...base, ...PRESETS[oneOf("dart.preset", o.preset, PRESET_NAMES)] };
  if (o.drift !== undefined) {
    if (typeof o.drift !== "boolean") throw new DartSettingsError("dart.drift", `dart.drift must be true or false; got ${JSON.stringify(o.drift)}`);
    s.drift = o.drift;
  }
  if (o.method !== undefined) s.method = oneOf("dart.method", o.method, METHODS);
  if (o.budget !== undefined) s.budget = oneOf("dart.budget", o.budget, BUDGETS);
  if (o.ranking !== undefined) s.ranking = oneOf("dart.ranking", o.ranking, RANKINGS);
  if (o.aggregation !== undefined) s.aggregation = oneOf("dart.aggregation", o.aggregation, AGGREGATIONS);
  if (o.prior !== undefined) s.prior = oneOf("dart.prior", o.prior, PRIORS);
  if (o.emaDecay !== undefined) {
    if (typeof o.emaDecay !== "number" || !(o.emaDecay > 0 && o.emaDecay < 1)) {
      throw new DartSettingsError("dart.emaDecay", `dart.emaDecay must be a number in (0, 1); got ${JSON.stringify(o.emaDecay)}`);
    }
    s.emaDecay = o.emaDecay;
  }
  if (o.layerSparsity !== undefined) {
    const l = o.layerSparsity;
    if (!Array.isArray(l) || l.length === 0 || l.some((x) => typeof x !== "number" || !(x >= 0 && x <= 0.9))) {
      throw new DartSettingsError("dart.layerSparsity", "dart.layerSparsity must be a non-empty array of numbers in [0, 0.9]");
    }
    s.layerSparsity = l.slice();
  }
  if (o.sparsity !== undefined) {
    if (typeof o.sparsity !== "number" || !(o.sparsity >= 0 && o.sparsity <= 0.9)) {
      throw new DartSettingsError("dart.sparsity", `dart.sparsity must be a number in [0, 0.9]; got ${JSON.stringify(o.sparsity)}`);
    }
    s.sparsity = o.sparsity;
  }
  if (o.maskingStep !== undefined) {
    if (typeof o.maskingStep !== "number" || !Number.isInteger(o.maskingStep) || o.maskingStep < 0 || o.maskingStep > 256) {
      throw new DartSettingsError("dart.maskingStep", `dart.maskingStep must be an integer in [0, 256]; got ${JSON.stringify(o.maskingStep)}`);
    }
    s.maskingStep = o.maskingStep;
  }
  return s;
}

/** Field-by-field equality (key order does not matter; a field an older record lacks counts as its default). */
export function sameSettings(a: DartSettings, b: DartSettings): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof DartSettings)[]);
  const d = DEFAULT_DART_SETTINGS as Partial<DartSettings>;
  for (const k of keys) if (JSON.stringify(a[k] ?? d[k]) !== JSON.stringify(b[k] ?? d[k])) return false;
  return true;
}
