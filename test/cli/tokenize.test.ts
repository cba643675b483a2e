// `dart tokenize` on a GGUF file holding Llama 3's real vocabulary, checked against llama3-tokenizer-js.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import llama3 from "llama3-tokenizer-js";
import { describe, expect, it } from "vitest";
import { tokenizerMetadata, writeGguf } from "../../shared/model/gguf-writer.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { llama3Vocab, LLAMA3_BOS } from "../helpers/real-vocab.ts";
import { dart } from "../helpers/run-cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dart-tokenize-"));
const model = join(dir, "llama3-vocab.gguf");
writeFileSync(model, writeGguf([["general.architecture", { type: "string", value: "llama" }], ...tokenizerMetadata(llama3Vocab())], []));
const text = "Hello, world! 12345 naïve 😀<|eot_id|>";

describe("dart tokenize", () => {
  it("prints the ids with BOS as the file says, special tokens recognised", () => {
    const r = dart(["tokenize", "--model", model, "--text", text]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split(" ").map(Number)).toEqual([LLAMA3_BOS, ...llama3.encode(text, { bos: false, eos: false })]);
  });

  it("--json --no-bos from a file; --no-special reads control tokens as text", () => {
    const file = join(dir, "in.txt");
    writeFileSync(file, text);
    const r = JSON.parse(dart(["tokenize", "--model", model, "--file", file, "--json", "--no-bos"]).stdout) as { ids: number[]; tokens: string[] };
    expect(r.ids).toEqual(llama3.encode(text, { bos: false, eos: false }));
    expect(r.tokens.at(-1)).toBe("<|eot_id|>");
    const plain = JSON.parse(dart(["tokenize", "--model", model, "--text", "<|eot_id|>", "--json", "--no-special"]).stdout) as { ids: number[] };
    expect(plain.ids.length).toBeGreaterThan(2);
    expect(plain.ids.slice(1).every((id) => id < LLAMA3_BOS)).toBe(true);
  });

  it("a llama2.c model finds its tokenizer beside it", () => {
    const r = JSON.parse(dart(["tokenize", "--model", dataPath("stories260K.bin"), "--tokenizer", dataPath("tok512.bin"), "--text", "Once upon a time", "--json"]).stdout);
    expect(r.ids[0]).toBe(1);
    expect(r.tokens.slice(1).join("")).toBe(" Once upon a time");
  });

  it("usage errors exit 2 with the usage line", () => {
    const r = dart(["tokenize", "--model", model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exactly one of --text and --file/);
  });
});
