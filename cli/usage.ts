// Argument parsing shared by every subcommand: node:util parseArgs, with errors that print usage.
import { parseArgs, type ParseArgsConfig } from "node:util";

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseFlags<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function required(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`missing --${name}`);
  return v;
}

/** Parses a numeric flag; `integer` rejects fractions. Absent flags give `fallback`. */
export function numberFlag(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  opts: { integer?: boolean; min?: number; max?: number } = {},
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (typeof raw !== "string" || raw.trim() === "" || !Number.isFinite(v)) throw new UsageError(`--${name} must be a number, got "${String(raw)}"`);
  if (opts.integer && !Number.isInteger(v)) throw new UsageError(`--${name} must be an integer, got ${raw}`);
  if (opts.min !== undefined && v < opts.min) throw new UsageError(`--${name} must be >= ${opts.min}, got ${raw}`);
  if (opts.max !== undefined && v > opts.max) throw new UsageError(`--${name} must be <= ${opts.max}, got ${raw}`);
  return v;
}
