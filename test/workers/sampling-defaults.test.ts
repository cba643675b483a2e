// The deployment's default sampling ([vars.SAMPLING_DEFAULTS] in wrangler.toml, read here from
// the real configuration): requests that omit temperature / top_p get it, requests that set
// them keep theirs, and a bad configuration says which value is wrong.
import { env } from "cloudflare:test";
import { expect, it } from "vitest";
import { samplingDefaults } from "../../gateway/sampling-defaults.ts";
import { parseGenerationRequest } from "../../gateway/validation/generation.ts";
import { parseDartSettings } from "../../shared/dart/settings.ts";

const chat = (extra: Record<string, unknown>) => parseGenerationRequest("chat", { model: "stories260K", messages: [{ role: "user", content: "Once upon a time" }], ...extra }, parseDartSettings(undefined), null, samplingDefaults(env));

it("wrangler.toml sets readable defaults for stories260K, not OpenAI's 1 and 1", () => {
  expect(samplingDefaults(env)).toEqual({ temperature: 0.7, topP: 0.9 });
});

it("a request that omits temperature and top_p gets the defaults; one that sets them keeps its own", () => {
  expect(chat({})).toMatchObject({ temperature: 0.7, topP: 0.9 });
  expect(chat({ temperature: 1, top_p: 1 })).toMatchObject({ temperature: 1, topP: 1 });
  expect(chat({ temperature: 0 })).toMatchObject({ temperature: 0, topP: 0.9 });
});

it("without configuration the defaults are OpenAI's; a value out of range is named", () => {
  expect(samplingDefaults({ ...env, SAMPLING_DEFAULTS: undefined })).toEqual({ temperature: 1, topP: 1 });
  expect(samplingDefaults({ ...env, SAMPLING_DEFAULTS: '{"temperature":0.5}' })).toEqual({ temperature: 0.5, topP: 1 });
  expect(() => samplingDefaults({ ...env, SAMPLING_DEFAULTS: { top_p: 0 } })).toThrow("SAMPLING_DEFAULTS.top_p is out of range: 0");
});
