// Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K (the types of Q4_0, Q4_K_M and Q5_K_M
// downloads) decode block by block as ggml's format defines them, checked against an
// encoder written from that definition (test/helpers/block-encoders.ts), and a GGUF file
// mixing them loads and runs the same as an F32 file of the values they stand for.
import { describe, expect, it } from "vitest";
import { Rng } from "../../shared/engine/sampler.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { GGML_TYPE, dequantize, tensorBytes } from "../../shared/model/dtypes.ts";
import { writeLlamaGguf, type GgufTensorInput } from "../../shared/model/gguf-writer.ts";
import { loadModel, loadTokenizer } from "../../shared/model/load.ts";
import type { ModelConfig } from "../../shared/model/config.ts";
import { ModelFormatError } from "../../shared/model/config.ts";
import { readLlama2cTokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { generate } from "../../shared/engine/generate.ts";
import {
  encodeQ4_0, encodeQ4_1, encodeQ5_0, encodeQ5_1, encodeQ4_K, encodeQ5_K, encodeQ6_K,
  quantizeQ4_0, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K, type EncodedBlocks,
} from "../helpers/block-encoders.ts";
import { randomModel } from "../helpers/family-gguf.ts";
import { readData } from "../helpers/model-dir.ts";
import { dart } from "../helpers/run-cli.ts";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const rng = new Rng(7);
const int = (lo: number, hi: number) => lo + (rng.nextU32() % (hi - lo + 1));
const ints = (n: number, lo: number, hi: number) => Array.from({ length: n }, () => int(lo, hi));
const scale = () => (rng.nextU32() / 2 ** 32) * 0.02 + 1e-4;
/** Random integers plus each range's two ends, so every packed bit is exercised. */
const withEnds = (n: number, lo: number, hi: number) => [lo, hi, ...ints(n - 2, lo, hi)];

function expectDecodes(type: number, enc: EncodedBlocks) {
  const got = dequantize(enc.bytes, 0, type, enc.values.length);
  for (let i = 0; i < got.length; i++) expect(got[i], `value ${i}`).toBeCloseTo(enc.values[i]!, 6);
  // The values are not all alike (a decoder reading the wrong bytes would not pass by luck).
  expect(new Set(enc.values).size).toBeGreaterThan(enc.values.length / 8);
}

describe("block-quantised types decode as ggml defines them", () => {
  it("block sizes are ggml's (sizeof block_q4_0 ... block_q6_K)", () => {
    expect(tensorBytes(GGML_TYPE.Q4_0, 32, "t")).toBe(18);
    expect(tensorBytes(GGML_TYPE.Q4_1, 32, "t")).toBe(20);
    expect(tensorBytes(GGML_TYPE.Q5_0, 32, "t")).toBe(22);
    expect(tensorBytes(GGML_TYPE.Q5_1, 32, "t")).toBe(24);
    expect(tensorBytes(GGML_TYPE.Q4_K, 256, "t")).toBe(144);
    expect(tensorBytes(GGML_TYPE.Q5_K, 256, "t")).toBe(176);
    expect(tensorBytes(GGML_TYPE.Q6_K, 512, "t")).toBe(420);
    expect(() => tensorBytes(GGML_TYPE.Q4_K, 576, "t")).toThrow(/multiple of 256/);
    expect(() => tensorBytes(11, 256, "t")).toThrow(/unsupported dtype Q3_K.*Q4_K/);
  });

  it("Q4_0: a hand-made block (d = 0.5, nibble - 8)", () => {
    const bytes = new Uint8Array(18);
    bytes[0] = 0x00; bytes[1] = 0x38; // f16 0.5
    bytes[2] = 0xf0; // value 0: low nibble 0 -> -4; value 16: high nibble 15 -> 3.5
    bytes[17] = 0x89; // value 15: 9 -> 0.5; value 31: 8 -> 0
    const got = dequantize(bytes, 0, GGML_TYPE.Q4_0, 32);
    expect([got[0], got[16], got[15], got[31], got[1]]).toEqual([-4, 3.5, 0.5, 0, -4]);
  });

  it("Q4_0 and Q4_1 blocks of 32", () => {
    expectDecodes(GGML_TYPE.Q4_0, encodeQ4_0(Array.from({ length: 6 }, () => ({ d: scale(), q: withEnds(32, 0, 15) }))));
    expectDecodes(GGML_TYPE.Q4_1, encodeQ4_1(Array.from({ length: 6 }, () => ({ d: scale(), m: -scale() * 8, q: withEnds(32, 0, 15) }))));
  });

  it("Q5_0 and Q5_1 blocks of 32 with the fifth bits in qh", () => {
    expectDecodes(GGML_TYPE.Q5_0, encodeQ5_0(Array.from({ length: 6 }, () => ({ d: scale(), q: withEnds(32, 0, 31) }))));
    expectDecodes(GGML_TYPE.Q5_1, encodeQ5_1(Array.from({ length: 6 }, () => ({ d: scale(), m: -scale() * 16, q: withEnds(32, 0, 31) }))));
  });

  it("Q4_K: super-blocks of 256, 6-bit packed scales and mins", () => {
    const block = () => ({ d: scale(), dmin: scale(), scales: withEnds(8, 0, 63), mins: withEnds(8, 0, 63), q: withEnds(256, 0, 15) });
    expectDecodes(GGML_TYPE.Q4_K, encodeQ4_K(Array.from({ length: 5 }, block)));
    // Scales and mins >= 16 in sub-blocks 4..7 need the top bits kept in bytes 0..7.
    const high = { d: 1 / 64, dmin: 1 / 32, scales: [1, 2, 3, 4, 63, 48, 17, 33], mins: [5, 6, 7, 8, 62, 47, 16, 32], q: new Array(256).fill(15) };
    const got = dequantize(encodeQ4_K([high]).bytes, 0, GGML_TYPE.Q4_K, 256);
    expect(got[4 * 32]).toBe((63 * 15) / 64 - 62 / 32);
    expect(got[7 * 32 + 31]).toBe((33 * 15) / 64 - 32 / 32);
    expect(got[0]).toBe(15 / 64 - 5 / 32);
  });

  it("Q5_K: Q4_K plus the fifth bits in qh", () => {
    const block = () => ({ d: scale(), dmin: scale(), scales: withEnds(8, 0, 63), mins: withEnds(8, 0, 63), q: withEnds(256, 0, 31) });
    expectDecodes(GGML_TYPE.Q5_K, encodeQ5_K(Array.from({ length: 5 }, block)));
  });

  it("Q6_K: ql/qh/int8 scales/d, value d * scale * (q - 32)", () => {
    const block = () => ({ d: scale(), scales: withEnds(16, -128, 127), q: withEnds(256, 0, 63) });
    expectDecodes(GGML_TYPE.Q6_K, encodeQ6_K(Array.from({ length: 5 }, block)));
    const one = { d: 0.5, scales: Array.from({ length: 16 }, (_, i) => i - 8), q: Array.from({ length: 256 }, (_, i) => i % 64) };
    const got = dequantize(encodeQ6_K([one]).bytes, 0, GGML_TYPE.Q6_K, 256);
    expect(got[0]).toBe(0.5 * -8 * (0 - 32));
    expect(got[255]).toBe(0.5 * 7 * (63 - 32));
    expect(got[100]).toBe(0.5 * (6 - 8) * (36 - 32));
  });
});

describe("a GGUF file of K-quant and Q4_0 tensors (a Q4_K_M-like mix)", () => {
  // Rows of 256 so every type's blocks fit; stories260K's 512-token vocabulary.
  const config: ModelConfig = { dim: 256, hiddenDim: 512, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 256, ropeTheta: 10000, normEps: 1e-5 };
  const source = randomModel(config, 3, false);
  const tokenizer = readLlama2cTokenizer(readData("tok512.bin"), 512);
  // As llama.cpp's Q4_K_M: Q6_K for the output and half the ffn_down/attn_v tensors, Q4_K elsewhere; here also Q5_K and Q4_0.
  const pick = (name: string): [number, (x: Float32Array) => EncodedBlocks] =>
    name === "output.weight" || name.endsWith("ffn_down.weight") ? [GGML_TYPE.Q6_K, quantizeQ6_K]
      : name.endsWith("attn_v.weight") ? [GGML_TYPE.Q5_K, quantizeQ5_K]
        : name.endsWith("attn_k.weight") ? [GGML_TYPE.Q4_0, quantizeQ4_0]
          : [GGML_TYPE.Q4_K, quantizeQ4_K];
  const expected = new Map<string, Float32Array>();
  const quantized = writeLlamaGguf(source, {
    tokenizer,
    encodeMatrix: (t: GgufTensorInput) => {
      const [type, quantize] = pick(t.name);
      const enc = quantize(t.data);
      expected.set(t.name, enc.values);
      return { ...t, type, encoded: enc.bytes };
    },
  });
  const model = loadModel(quantized);

  it("loads every tensor as the values its blocks stand for", () => {
    expect(model.source.dtypes).toEqual(expect.arrayContaining(["Q4_K", "Q5_K", "Q6_K", "Q4_0", "F32"]));
    const w = model.weights;
    expect(w.tokenEmbedding).toEqual(expected.get("token_embd.weight"));
    expect(w.classifier).toEqual(expected.get("output.weight"));
    expect(w.layers[1]!.wk).toEqual(expected.get("blk.1.attn_k.weight"));
    expect(w.layers[1]!.wv).toEqual(expected.get("blk.1.attn_v.weight"));
    expect(w.layers[0]!.wDown).toEqual(expected.get("blk.0.ffn_down.weight"));
    // And they are close to the weights that were quantized (the encoder is a real quantizer).
    const err = w.layers[0]!.wq.reduce((m, v, i) => Math.max(m, Math.abs(v - source.weights.layers[0]!.wq[i]!)), 0);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.02);
  });

  it("runs exactly like an F32 file of the dequantized values, and generates text", () => {
    const dequantized = { config, weights: { ...model.weights } };
    const f32 = loadModel(writeLlamaGguf(dequantized, { tokenizer }));
    const a = new Transformer(model), b = new Transformer(f32);
    const sa = a.newState(), sb = b.newState();
    for (const [pos, id] of [1, 403, 407, 261, 378].entries()) expect(a.forward(sa, id, pos)).toEqual(b.forward(sb, id, pos));
    const r = generate(a, loadTokenizer(model, quantized), "Once upon a time", { maxTokens: 6, temperature: 0 });
    expect(r.tokens.length).toBe(6);
  });

  it("`dart generate` serves it from a file", () => {
    const dir = mkdtempSync(join(tmpdir(), "dart-kquant-"));
    try {
      const path = join(dir, "q4km-like.gguf");
      writeFileSync(path, quantized);
      const r = dart(["generate", "--model", path, "--prompt", "Once upon a time", "--max-tokens", "5", "--temperature", "0", "--json"]);
      expect(r.stderr).not.toMatch(/error/i);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).tokens).toHaveLength(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a K-quant tensor whose rows are not whole super-blocks", () => {
    const small = randomModel({ ...config, dim: 64, hiddenDim: 128, nHeads: 4, nKvHeads: 2 }, 1, true);
    const bytes = writeLlamaGguf(small, {
      encodeMatrix: (t) => (t.name === "blk.0.attn_q.weight" ? { ...t, type: GGML_TYPE.Q4_K, encoded: quantizeQ4_K(t.data).bytes } : t),
    });
    expect(() => loadModel(bytes)).toThrow(ModelFormatError);
    expect(() => loadModel(bytes)).toThrow(/blk\.0\.attn_q\.weight \(row\): Q4_K needs a multiple of 256/);
  });
});
