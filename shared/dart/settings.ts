// DART settings as a request or the CLI gives them, validated in one place.

export const METHODS = ["dense", "static", "griffin", "random", "dart-paper", "dart"] as const;
export type MethodName = (typeof METHODS)[number];
export const RANKINGS = ["magnitude", "max", "mean", "combined", "product"] as const;
export type RankingMethod = (typeof RANKINGS)[number];
export const BUDGETS = ["uniform", "auto"] as const;
export type BudgetMode = (typeof BUDGETS)[number];

export interface DartSettings {
  method: MethodName;
  /** Fraction of FFN neurons pruned, 0..0.9. */
  sparsity: number;
  /** Tokens traced densely (prompt tail plus generated) before masks are built. */
  maskingStep: number;
  budget: BudgetMode;
  ranking: RankingMethod;
}

export const DEFAULT_DART_SETTINGS: DartSettings = {
  method: "dart",
  sparsity: 0.5,
  maskingStep: 10,
  budget: "uniform",
  ranking: "combined",
};

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
  const known = new Set(["method", "sparsity", "maskingStep", "budget", "ranking"]);
  for (const k of Object.keys(o)) if (!known.has(k)) throw new DartSettingsError(`dart.${k}`, `unknown DART setting dart.${k}`);
  const s = { ...base };
  if (o.method !== undefined) s.method = oneOf("dart.method", o.method, METHODS);
  if (o.budget !== undefined) s.budget = oneOf("dart.budget", o.budget, BUDGETS);
  if (o.ranking !== undefined) s.ranking = oneOf("dart.ranking", o.ranking, RANKINGS);
  if (o.sparsity !== undefined) {
    if (typeof o.sparsity !== "number" || !(o.sparsity >= 0 && o.sparsity <= 0.9)) {
      throw new DartSettingsError("dart.sparsity", `dart.sparsity must be a number in [0, 0.9]; got ${JSON.stringify(o.sparsity)}`);
    }
    s.sparsity = o.sparsity;
  }
  if (o.maskingStep !== undefined) {
    if (typeof o.maskingStep !== "number" || !Number.isInteger(o.maskingStep) || o.maskingStep < 1 || o.maskingStep > 256) {
      throw new DartSettingsError("dart.maskingStep", `dart.maskingStep must be an integer in [1, 256]; got ${JSON.stringify(o.maskingStep)}`);
    }
    s.maskingStep = o.maskingStep;
  }
  return s;
}
