// Llama 3.1's RoPE scaling (rope.scaling.* keys or the rope_freqs tensor) and a KV cache
// sized by --ctx rather than a file's 128K context_length.
import { describe, expect, it } from "vitest";
import { Transformer } from "../../shared/engine/transformer.ts";
import { GGML_TYPE } from "../../shared/model/dtypes.ts";
import { DEFAULT_CONTEXT, parseGguf, ggufConfig } from "../../shared/model/gguf.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { loadModel } from "../../shared/model/load.ts";
import { FAMILIES, familyGguf, randomModel } from "../helpers/family-gguf.ts";
import { dart } from "../helpers/run-cli.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Meta's apply_scaling (llama/model.py, Llama 3.1) on the unscaled frequencies. */
function metaScaledFreqs(theta: number, headDim: number): number[] {
  const [factor, low, high, old] = [8, 1, 4, 8192];
  return Array.from({ length: headDim / 2 }, (_, i) => {
    const freq = 1 / Math.pow(theta, (2 * i) / headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < old / high) return freq;
    if (wavelen > old / low) return freq / factor;
    const smooth = (old / wavelen - low) / (high - low);
    return (1 - smooth) * (freq / factor) + smooth * freq;
  });
}

const llama31 = FAMILIES.find((f) => f.name === "llama-3.x-instruct")!;

describe("Llama 3.1 RoPE scaling", () => {
  const bytes = familyGguf(llama31, { dim: 128, nLayers: 1 }); // head size 16: 8 pairs, every regime of the formula
  const config = ggufConfig(parseGguf(bytes));

  it("rope.scaling.* keys give Meta's scaled frequencies", () => {
    const expected = metaScaledFreqs(500000, 16);
    const ours = config.ropeFreqFactors!.map((f, i) => 1 / Math.pow(500000, (2 * i) / 16) / f);
    ours.forEach((f, i) => expect(f).toBeCloseTo(expected[i]!, 12));
    expect(new Set(config.ropeFreqFactors!.map((f) => Math.round(f * 1000))).size).toBeGreaterThan(2); // 1, 8 and smoothed ones
  });

  it("the rope_freqs tensor gives the same model as the keys; without scaling the outputs differ", () => {
    const model = randomModel({ ...config, vocabSize: 512, seqLen: 64, ropeFreqFactors: undefined }, 3, false);
    const factors = Float32Array.from(config.ropeFreqFactors!);
    const withTensor = loadModel(writeLlamaGguf(model, { tensors: [{ name: "rope_freqs.weight", dims: [factors.length], data: factors, type: GGML_TYPE.F32 }] }));
    const withKeys = loadModel(writeLlamaGguf(model, { metadata: llama31.metadata }));
    const plain = loadModel(writeLlamaGguf(model));
    const run = (m: typeof plain) => {
      const tf = new Transformer(m);
      const s = tf.newState();
      let out = new Float32Array(0);
      for (let p = 0; p < 40; p++) out = tf.forward(s, (p * 7919) % 512, p).slice();
      return out;
    };
    const a = run(withTensor), b = run(withKeys), c = run(plain);
    for (let i = 0; i < a.length; i++) expect(a[i]).toBeCloseTo(b[i]!, 4);
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i]! - c[i]!));
    expect(diff).toBeGreaterThan(1e-3);
  });
});

describe("KV cache size", () => {
  it("is DEFAULT_CONTEXT positions for a 128K-context file, or what maxContext asks", () => {
    const bytes = familyGguf(llama31);
    expect(DEFAULT_CONTEXT).toBe(4096);
    expect(loadModel(bytes).config.seqLen).toBe(4096);
    expect(loadModel(bytes, { maxContext: 300 }).config.seqLen).toBe(300);
    expect(loadModel(bytes, { maxContext: 1 << 20 }).config.seqLen).toBe(131072);
  });

  it("dart generate --ctx bounds the context", () => {
    const dir = mkdtempSync(join(tmpdir(), "dart-ctx-"));
    const path = join(dir, "smollm2.gguf");
    writeFileSync(path, familyGguf(FAMILIES.find((f) => f.name === "smollm2-instruct")!));
    const r = dart(["generate", "--model", path, "--prompt", "Hello there", "--max-tokens", "20", "--ctx", "8", "--temperature", "0"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/context length of 8 tokens/);
    const ok = dart(["generate", "--model", path, "--prompt", "Hello there", "--max-tokens", "4", "--ctx", "16", "--temperature", "0", "--json"]);
    expect(ok.stderr).toBe("");
    expect(JSON.parse(ok.stdout).tokens.length).toBeGreaterThan(0);
  });
});
