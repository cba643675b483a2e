// Small field checkers for request bodies: each failure is a 400 naming the parameter.
import { badRequest } from "../../shared/serving/api-error.ts";

export type Body = Record<string, unknown>;

export function asObject(v: unknown, param: string | null): Body {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw badRequest(`${param ?? "body"} must be a JSON object`, param, "invalid_type");
  return v as Body;
}

/** Rejects fields outside `known`, as OpenAI's API does. */
export function onlyKnown(o: Body, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) throw badRequest(`Unrecognized request argument supplied: ${k}`, k, "unknown_parameter");
  }
}

const present = (v: unknown) => v !== undefined && v !== null;

export function optNumber(o: Body, key: string, min: number, max: number, opts: { integer?: boolean; minExclusive?: boolean } = {}): number | null {
  const v = o[key];
  if (!present(v)) return null;
  const ok =
    typeof v === "number" &&
    Number.isFinite(v) &&
    (!opts.integer || Number.isInteger(v)) &&
    (opts.minExclusive ? v > min : v >= min) &&
    v <= max;
  if (!ok) {
    const kind = opts.integer ? "an integer" : "a number";
    const range = `${opts.minExclusive ? "(" : "["}${min}, ${max}]`;
    throw badRequest(`${key} must be ${kind} in ${range}; got ${JSON.stringify(v)}`, key);
  }
  return v as number;
}

export function optBoolean(o: Body, key: string): boolean | null {
  const v = o[key];
  if (!present(v)) return null;
  if (typeof v !== "boolean") throw badRequest(`${key} must be a boolean; got ${JSON.stringify(v)}`, key, "invalid_type");
  return v;
}

export function requiredString(o: Body, key: string): string {
  const v = o[key];
  if (typeof v !== "string" || v === "") throw badRequest(`${key} is required and must be a non-empty string`, key, present(v) ? "invalid_type" : "missing_required_parameter");
  return v;
}

export const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;
