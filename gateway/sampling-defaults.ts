// The deployment's default sampling: what a request that omits `temperature` or `top_p` gets.
// OpenAI's defaults (1 and 1) make a small model such as stories260K ramble into made-up
// words, so wrangler.toml sets [vars.SAMPLING_DEFAULTS]; without it the defaults are OpenAI's.
import type { Env } from "../workers/env.ts";

export interface SamplingDefaults {
  temperature: number;
  topP: number;
}

export const OPENAI_SAMPLING: SamplingDefaults = { temperature: 1, topP: 1 };

/** [vars.SAMPLING_DEFAULTS] `{temperature, top_p}` (an object, or its JSON from --var); a bad value is a configuration error. */
export function samplingDefaults(env: Env): SamplingDefaults {
  const raw = env.SAMPLING_DEFAULTS;
  const o = (typeof raw === "string" ? (raw.trim() ? JSON.parse(raw) : {}) : (raw ?? {})) as Record<string, unknown>;
  const pick = (key: string, fallback: number, ok: (v: number) => boolean): number => {
    const v = o[key];
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !ok(v)) throw new Error(`SAMPLING_DEFAULTS.${key} is out of range: ${JSON.stringify(v)}`);
    return v;
  };
  return {
    temperature: pick("temperature", OPENAI_SAMPLING.temperature, (v) => v >= 0 && v <= 2),
    topP: pick("top_p", OPENAI_SAMPLING.topP, (v) => v > 0 && v <= 1),
  };
}
