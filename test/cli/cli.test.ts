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
