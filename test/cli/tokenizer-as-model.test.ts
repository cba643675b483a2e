// A tokenizer file passed as --model is one line saying so (not "invalid model config:
// hiddenDim = 0"), with a non-zero exit, from each entry point: `dart generate`, `dart bench`, the
// inference node, and `dart serve` (npm start), which says it before starting anything.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../../cli/ports.ts";
import { llama2cTokenizerTokens } from "../../shared/model/not-a-model.ts";
import { dart } from "../helpers/run-cli.ts";
import { dataPath } from "../helpers/model-dir.ts";

const REPO = resolve(import.meta.dirname, "../..");
const tok = dataPath("tok512.bin");
const line = `${tok} is a llama2.c tokenizer file (512 tokens), not a model: pass a model (a llama2.c checkpoint or a GGUF file) as --model, and a tokenizer as --tokenizer`;

function node(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, args, { cwd: REPO, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("a tokenizer passed as the model", () => {
  it("is told apart from model files by parsing it whole", () => {
    const count = (name: string) => llama2cTokenizerTokens(new Uint8Array(readFileSync(dataPath(name))));
    expect(count("tok512.bin")).toBe(512);
    expect(count("stories260K.bin")).toBeNull();
    expect(count("stories260K-f32.gguf")).toBeNull();
    // A file cut short is not a whole tokenizer file.
    expect(llama2cTokenizerTokens(new Uint8Array(readFileSync(tok)).subarray(0, 1000))).toBeNull();
  });

  it("dart generate says so in one line, exit 1", () => {
    const r = dart(["generate", "--model", tok, "--prompt", "Once upon a time", "--max-tokens", "4"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`dart generate: ${line}`);
    expect(r.stdout).toBe("");
  });

  it("dart bench (which streams llama2.c files itself) says so too", () => {
    const r = dart(["bench", "--model", tok, "--tokens", "4", "--repeats", "1"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`dart bench: ${line}`);
  });

  it("the inference node says so in one line, exit 1", () => {
    const r = node(["workers/node/server.ts", "--model", tok, "--port", "0"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`the inference node could not load its model: ${line}`);
    expect(r.stdout).not.toMatch(/listening/);
  });

  it("dart serve (npm start) says so in one line before starting anything, exit 1", async () => {
    const r = node(["cli/dart.ts", "serve", "--model", tok, "--port", String(await freePort())]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`dart serve: ${line}`);
  });
});
