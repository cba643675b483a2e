// Greedy generation must reproduce llama2.c's documented output for stories260K
// (quoted in ../shared/data/README.md), from both file formats.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { generate } from "../../shared/engine/generate.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";

/** The reference continuation, read from the data folder's README (independent of this code). */
function referenceText(): string {
  const readme = readFileSync(dataPath("README.md"), "utf8");
  const quoted = readme.split("\n").filter((l) => l.startsWith("> ")).map((l) => l.slice(2));
  expect(quoted.length).toBe(2);
  return quoted.join("\n");
}

describe("greedy generation on stories260K", () => {
  for (const format of ["bin", "gguf"] as const) {
    it(`reproduces llama2.c's reference text (${format})`, () => {
      const { tf, tok } = stories(format);
      const ref = referenceText();
      expect(ref.startsWith("Once upon a time, there was a little girl named Lily.")).toBe(true);
      const r = generate(tf, tok, "Once upon a time", { maxTokens: 200, temperature: 0 });
      expect(r.text.slice(0, ref.length)).toBe(ref);
      expect(r.tokens.length).toBe(200);
      expect(r.stopReason).toBe("length");
    });
  }
});
