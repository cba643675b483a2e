// `dart synth`: deterministic per seed, the shape asked for, readable by both llama2.c readers.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { llama2cLayout, readLlama2cFile } from "../../cli/llama2c-stream.ts";
import { SHAPES } from "../../cli/synth-model.ts";
import { readLlama2c } from "../../shared/model/llama2c.ts";
import { dart } from "../helpers/run-cli.ts";
import { tmp } from "./helpers.ts";

describe("dart synth", () => {
  const dir = tmp();
  const synth = (out: string, seed: number) => dart(["synth", "--shape", "tiny", "--out", join(dir, out), "--seed", String(seed), "--json"]);

  it("writes the shape's llama2.c file, identical for a seed and different across seeds", () => {
    for (const [out, seed] of [["a.bin", 7], ["b.bin", 7], ["c.bin", 8]] as const) expect(synth(out, seed).code).toBe(0);
    const [a, b, c] = ["a.bin", "b.bin", "c.bin"].map((f) => readFileSync(join(dir, f)));
    expect(a!.equals(b!)).toBe(true);
    expect(a!.equals(c!)).toBe(false);
    const cfg = SHAPES.tiny!;
    const floats = llama2cLayout(cfg, true).reduce((s, t) => s + t.floats, 0);
    expect(statSync(join(dir, "a.bin")).size).toBe(28 + floats * 4);
    // The engine's in-memory reader and the streaming reader agree on every tensor.
    const m = readLlama2c(new Uint8Array(a!).buffer);
    const s = readLlama2cFile(join(dir, "a.bin"));
    expect(m.config).toEqual(cfg);
    expect(s.config).toEqual(cfg);
    expect(s.weights.classifier).toBe(s.weights.tokenEmbedding); // tied, as written
    expect(Array.from(s.weights.layers[1]!.wDown)).toEqual(Array.from(m.weights.layers[1]!.wDown));
    expect(Array.from(s.weights.tokenEmbedding)).toEqual(Array.from(m.weights.tokenEmbedding));
    // Noise at unit-variance scale, norms at one.
    const wq = m.weights.layers[0]!.wq;
    const bound = Math.sqrt(3 / cfg.dim);
    expect(Math.max(...wq)).toBeLessThanOrEqual(bound);
    expect(Math.max(...wq)).toBeGreaterThan(bound * 0.9);
    expect(Array.from(m.weights.layers[0]!.ffnNorm).every((x) => x === 1)).toBe(true);
  });

  it("knows the realistic shapes, and rejects unknown ones", () => {
    expect(SHAPES.stories110M).toMatchObject({ dim: 768, hiddenDim: 2048, nLayers: 12, nHeads: 12, vocabSize: 32000, seqLen: 1024 });
    expect(SHAPES["llama3-8b-8l"]).toMatchObject({ dim: 4096, hiddenDim: 14336, nHeads: 32, nKvHeads: 8, vocabSize: 128256 });
    const r = dart(["synth", "--shape", "nope", "--out", join(dir, "x.bin")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown shape");
  });
});
