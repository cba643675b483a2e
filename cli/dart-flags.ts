// DART flags shared by generate, eval and sweep.
import { parseDartSettings, DartSettingsError, PRESET_NAMES, type DartSettings } from "../shared/dart/settings.ts";
import { UsageError } from "./usage.ts";

export const dartFlagOptions = {
  preset: { type: "string" },
  method: { type: "string" },
  sparsity: { type: "string" },
  "masking-step": { type: "string" },
  budget: { type: "string" },
  ranking: { type: "string" },
  aggregation: { type: "string" },
  "ema-decay": { type: "string" },
  "layer-sparsity": { type: "string" },
  prior: { type: "string" },
  drift: { type: "string" },
} as const;

export const dartFlagUsage = `[--method dense|static|griffin|random|dart-paper|dart] [--sparsity <0..0.9>] [--masking-step N]
              [--budget uniform|auto] [--ranking magnitude|max|mean|combined|product]
              [--aggregation l2|ema] [--ema-decay d] [--layer-sparsity r1,r2,...] [--prior self|text]
              [--drift on|off] [--preset ${PRESET_NAMES.join("|")}]  (a preset is a dart-paper configuration
              of the reference's scripts; flags given beside it override it)`;

/** Settings from flags; without --method the method is dense. Errors name the flag. */
export function dartSettingsFromFlags(v: Record<string, unknown>): DartSettings {
  const num = (name: string) => {
    const raw = v[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${String(raw)}"`);
    return n;
  };
  const input: Record<string, unknown> = v.preset !== undefined ? { preset: v.preset } : { method: v.method ?? "dense" };
  if (v.preset !== undefined && v.method !== undefined) input.method = v.method;
  if (v.drift !== undefined) {
    if (v.drift !== "on" && v.drift !== "off") throw new UsageError(`--drift must be on or off, got "${String(v.drift)}"`);
    input.drift = v.drift === "on";
  }
  if (v.sparsity !== undefined) input.sparsity = num("sparsity");
  if (v["masking-step"] !== undefined) input.maskingStep = num("masking-step");
  if (v["ema-decay"] !== undefined) input.emaDecay = num("ema-decay");
  for (const k of ["budget", "ranking", "aggregation", "prior"] as const) if (v[k] !== undefined) input[k] = v[k];
  if (typeof v["layer-sparsity"] === "string") input.layerSparsity = v["layer-sparsity"].split(",").map(Number);
  try {
    return parseDartSettings(input);
  } catch (e) {
    if (e instanceof DartSettingsError) {
      const flag = "--" + e.param.replace(/^dart\./, "").replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
      throw new UsageError(e.message.replaceAll(e.param, flag));
    }
    throw e;
  }
}
