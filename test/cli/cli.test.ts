import { describe, expect, it } from "vitest";
import { dart } from "../helpers/run-cli.ts";
import { dataPath } from "../helpers/model-dir.ts";

const model = dataPath("stories260K.bin");

describe("dart CLI", () => {
  it("generate prints the prompt followed by its continuation", () => {
    const r = dart(["generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "12"]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
  });

  it("generate --json prints text, tokens, promptTokens and tokensPerSecond", () => {
    const r = dart(["generate", "--model", dataPath("stories260K-f32.gguf"), "--prompt", "Once upon a time", "--max-tokens", "12", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.text.startsWith("Once upon a time, there was")).toBe(true);
    expect(out.tokens).toHaveLength(12);
    expect(out.promptTokens).toBe(5); // BOS + 4 pieces
    expect(out.tokensPerSecond).toBeGreaterThan(0);
  });

  it("generate with a seed and temperature is reproducible", () => {
    const args = ["generate", "--model", model, "--prompt", "The dog", "--max-tokens", "20", "--temperature", "0.9", "--top-p", "0.9", "--seed", "5", "--json"];
    expect(JSON.parse(dart(args).stdout).tokens).toEqual(JSON.parse(dart(args).stdout).tokens);
  });

  it("eval --json prints perplexity and tokens", () => {
    const r = dart(["eval", "--model", model, "--text", dataPath("tinystories-valid-dev.txt"), "--max-tokens", "600", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.tokens).toBe(600);
    expect(out.windows).toBe(2);
    expect(out.perplexity).toBeGreaterThan(2);
    expect(out.perplexity).toBeLessThan(8);
  });

  it.each([
    [[], /missing command/],
    [["frobnicate"], /unknown command "frobnicate"/],
    [["generate", "--prompt", "x", "--max-tokens", "3"], /missing --model/],
    [["generate", "--model", model, "--max-tokens", "3"], /missing --prompt/],
    [["generate", "--model", model, "--prompt", "x"], /missing --max-tokens/],
    [["generate", "--model", model, "--prompt", "x", "--max-tokens", "abc"], /--max-tokens must be a number/],
    [["generate", "--model", model, "--prompt", "x", "--max-tokens=-4"], /--max-tokens must be >= 0/],
    [["generate", "--model", model, "--prompt", "x", "--max-tokens", "3", "--bogus"], /Unknown option '--bogus'/],
    [["generate", "--model", "/nonexistent.bin", "--prompt", "x", "--max-tokens", "3"], /model file not found/],
    [["eval", "--model", model], /missing --text/],
  ])("usage errors exit non-zero with usage: %j", (args, message) => {
    const r = dart(args as string[]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage/);
  });

  it("a prompt past the context length is a clear error, not a crash", () => {
    const r = dart(["generate", "--model", model, "--prompt", "word ".repeat(600), "--max-tokens", "3"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/exceeds the model's context length of 512/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});

describe("dart CLI with DART methods", () => {
  it("eval --method prints the protocol's metrics", () => {
    const r = dart(["eval", "--model", model, "--set", "story-speech", "--docs", "2", "--part-tokens", "48", "--method", "dart-paper", "--sparsity", "0.5", "--events", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    // Finite and in range, each (a NaN, an Infinity or a share above 1 fails).
    expect(out.perplexity).toBeGreaterThan(1);
    expect(out.perplexity).toBeLessThan(512); // below the vocabulary size: better than uniform
    for (const k of ["agreement", "denseTokenFraction", "falseAlarmRate", "detectionRate"]) {
      expect(out[k]).toBeGreaterThanOrEqual(0);
      expect(out[k]).toBeLessThanOrEqual(1);
    }
    expect(out.agreement).toBeGreaterThan(0.2);
    expect(out.klToDense).toBeGreaterThan(0);
    expect(out.klToDense).toBeLessThan(10);
    expect(Number.isInteger(out.remasks)).toBe(true);
    // Prompt + 9 dense tokens (masking step 10) at least, so the effective sparsity is below the nominal 0.5.
    expect(out.denseTokenFraction).toBeGreaterThanOrEqual(9 / out.tokens);
    expect(out.effectiveSparsity).toBeGreaterThan(0.5 * (1 - out.denseTokenFraction) - 0.01);
    expect(out.effectiveSparsity).toBeLessThan(0.5 * (1 - out.denseTokenFraction) + 0.01);
    // Every window before the switch is a candidate false alarm: the rate is a share of the logged ones.
    const before = out.events.flatMap((d: { events: { kind: string; pos: number; remask: boolean }[] }) => d.events.filter((e) => e.kind === "window" && e.pos < 1 + 48)); // switch after BOS + 48 story tokens
    expect(out.falseAlarmRate).toBeCloseTo(before.filter((e: { remask: boolean }) => e.remask).length / before.length, 10);
    expect(out.events).toHaveLength(2);
    expect(out.events[0].events.some((e: { kind: string }) => e.kind === "window")).toBe(true);
  });

  it("generate --method reports effective sparsity and masks", () => {
    const r = dart(["generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "20", "--method", "griffin", "--sparsity", "0.4", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.method).toBe("griffin");
    expect(out.masks.map((m: { kept: number }) => m.kept)).toEqual([103, 103, 103, 103, 103]);
    // The 5 prompt tokens run dense; 19 generated tokens are fed back masked (the 20th needs no forward).
    expect(out.promptTokens).toBe(5);
    expect(out.effectiveSparsity).toBeCloseTo(((1 - 103 / 172) * 19) / 24, 10);
  });

  it.each([
    [["--method", "nope"], /--method must be one of/],
    [["--sparsity", "0.95"], /--sparsity must be a number in \[0, 0.9\]/],
    [["--masking-step", "2.5"], /--masking-step must be an integer in \[0, 256\]/],
    [["--drift", "maybe"], /--drift must be on or off/],
    [["--preset", "fastest"], /--preset must be one of auto-benchmark, knowledge-drift/],
  ])("bad DART flags are usage errors: %j", (flags, message) => {
    const r = dart(["generate", "--model", model, "--prompt", "x", "--max-tokens", "3", ...(flags as string[])]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
