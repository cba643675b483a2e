// The llama2.c and GGUF files of stories260K must describe the same model, and the
// GGUF v1/v2/v3 writers and F16/Q8_0 dtypes must load back faithfully.
import { describe, expect, it } from "vitest";
import { loadModel, loadTokenizer } from "../../shared/model/load.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { writeLlamaGguf, writeGguf } from "../../shared/model/gguf-writer.ts";
import { parseGguf, ggufTokenizer } from "../../shared/model/gguf.ts";
import { GGML_TYPE, f16ToF32, dequantize, quantize } from "../../shared/model/dtypes.ts";
import { readLlama2cTokenizer } from "../../shared/tokenizer/tokenizer.ts";
import { writeLlama2c } from "../../shared/model/llama2c.ts";
import { readData, stories } from "../helpers/model-dir.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import { argmax } from "../../shared/engine/sampler.ts";

const PROMPT_IDS = [1, 403, 407, 261, 378, 268, 300, 411, 280, 422, 360, 322, 270, 283, 271];

function logitsFor(model: Pick<LoadedModel, "config" | "weights">, ids = PROMPT_IDS): Float32Array[] {
  // Exact comparisons: the reference kernels accumulate in float64, so a GGUF file's
  // float32 normEps (1e-5 rounded) cannot flip a logit bit; the f32 SIMD kernels can.
  const tf = new Transformer(model);
  const s = tf.newState();
  return ids.map((t, pos) => tf.forward(s, t, pos).slice());
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

describe("llama2.c .bin and GGUF v1 of stories260K", () => {
  it("read the same config from the files", () => {
    const bin = stories("bin").model.config;
    const gguf = stories("gguf").model.config;
    expect(bin).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, ropeTheta: 10000, normEps: Math.fround(1e-5) });
    expect(gguf.dim).toBe(bin.dim);
    expect(gguf.hiddenDim).toBe(bin.hiddenDim);
    expect(gguf.nKvHeads).toBe(bin.nKvHeads);
    expect(gguf.normEps).toBe(bin.normEps); // both the float32 1e-5f
    expect(stories("gguf").model.source).toMatchObject({ format: "gguf", version: 1 });
  });

  it("give the same logits (max abs difference < 1e-5)", () => {
    const a = logitsFor(stories("bin").model);
    const b = logitsFor(stories("gguf").model);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-5);
    // Not trivially equal: the logits vary across positions.
    expect(maxAbsDiff(a.slice(0, 1), a.slice(1, 2))).toBeGreaterThan(0.1);
  });

  it("give the same tokenizer output", () => {
    const tb = stories("bin").tok;
    const tg = stories("gguf").tok;
    const texts = ["Once upon a time", "Lily's mom said, \"Let's go!\"", "naïve café — 北京 🚀", "  two spaces\nnew line\t tab", ""];
    for (const t of texts) expect(tg.encode(t)).toEqual(tb.encode(t));
    // llama2.c's tokenizer.bin spells the control tokens "\n<s>\n" and "\n</s>\n"; every other piece matches.
    for (let id = 3; id < 512; id++) expect(tg.piece(id)).toBe(tb.piece(id));
  });
});

describe("GGUF writer and dtypes", () => {
  const bin = () => stories("bin").model;

  it("round-trips the model as F32 in GGUF v1, v2 and v3 with identical logits", () => {
    const ref = logitsFor(bin());
    for (const version of [1, 2, 3]) {
      const bytes = writeLlamaGguf(bin(), { version, tokenizer: readLlama2cTokenizer(readData("tok512.bin"), 512) });
      const m = loadModel(bytes);
      expect(m.source).toMatchObject({ format: "gguf", version });
      expect(maxAbsDiff(logitsFor(m), ref)).toBe(0);
      const tok = loadTokenizer(m, bytes);
      expect(tok.encode("Once upon a time")).toEqual(stories("bin").tok.encode("Once upon a time"));
    }
  });

  it("F16 tensors load as the f16-rounded weights and stay close in logits", () => {
    const m = loadModel(writeLlamaGguf(bin(), { dtype: GGML_TYPE.F16 }));
    expect(m.source.dtypes).toContain("F16");
    const w = bin().weights.layers[2]!.wq;
    const got = m.weights.layers[2]!.wq;
    for (let i = 0; i < w.length; i++) {
      // |x - f16(x)| <= 2^-11 |x| for normal numbers (plus the subnormal step)
      expect(Math.abs(got[i]! - w[i]!)).toBeLessThanOrEqual(Math.abs(w[i]!) * 2 ** -11 + 2 ** -24);
    }
    const d = maxAbsDiff(logitsFor(m), logitsFor(bin()));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.05);
  });

  it("BF16 tensors load as the f32 values rounded to bfloat16 (top 16 bits, nearest even) and stay close in logits", () => {
    const bytes = writeLlamaGguf(bin(), { dtype: GGML_TYPE.BF16 });
    const m = loadModel(bytes);
    expect(m.source.dtypes).toEqual(expect.arrayContaining(["BF16", "F32"]));
    // Rounded here from the bit pattern, independently of the writer and the loader.
    const bf16 = (x: number) => {
      const u = new Uint32Array(Float32Array.of(x).buffer)[0]!;
      const r = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) << 16;
      return new Float32Array(Uint32Array.of(r >>> 0).buffer)[0]!;
    };
    expect(bf16(1)).toBe(1);
    expect(bf16(1 / 3)).toBe(0.333984375); // 0x3eab
    for (const [name, pick] of [["wq", (l: typeof m.weights.layers[0]) => l.wq], ["w2", (l: typeof m.weights.layers[0]) => l.wDown]] as const) {
      const want = pick(bin().weights.layers[3]!);
      const got = pick(m.weights.layers[3]!);
      for (let i = 0; i < want.length; i++) expect(got[i], `${name}[${i}]`).toBe(bf16(want[i]!));
    }
    const d = maxAbsDiff(logitsFor(m), logitsFor(bin()));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.2);
  });

  it("Q8_0 tensors dequantize as scale * int8 per 32-value block and keep greedy tokens", () => {
    const m = loadModel(writeLlamaGguf(bin(), { dtype: GGML_TYPE.Q8_0 }));
    expect(m.source.dtypes).toEqual(expect.arrayContaining(["Q8_0", "F16", "F32"])); // ffn_down rows of 172 fall back to F16
    // Independent check of one block: the max-magnitude element maps to +-127 * d exactly.
    const w = bin().weights.layers[0]!.wq;
    const block = w.subarray(0, 32);
    const amax = Math.max(...Array.from(block, Math.abs));
    const d = amax / 127;
    const got = m.weights.layers[0]!.wq.subarray(0, 32);
    for (let j = 0; j < 32; j++) expect(Math.abs(got[j]! - block[j]!)).toBeLessThanOrEqual(d * 0.5 * 1.01 + 1e-6);
    const ref = logitsFor(bin());
    const q = logitsFor(m);
    let agree = 0;
    ref.forEach((row, i) => (agree += argmax(row) === argmax(q[i]!) ? 1 : 0));
    expect(agree).toBeGreaterThanOrEqual(ref.length - 1);
    expect(maxAbsDiff(q, ref)).toBeLessThan(0.5);
  });

  it("converts f16 bit patterns like IEEE 754 half precision", () => {
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    const vals = Float32Array.of(0, 1, -1, 0.1, 65504, 1e-7, -3.14159);
    const back = dequantize(quantize(vals, GGML_TYPE.F16), 0, GGML_TYPE.F16, vals.length);
    expect(Array.from(back)).toEqual([0, 1, -1, 0.0999755859375, 65504, 1.1920928955078125e-7, -3.140625]);
  });
});

describe("clear errors for bad files", () => {
  const binBytes = () => readData("stories260K.bin");
  const ggufBytes = () => readData("stories260K-f32.gguf");

  it("a truncated llama2.c file names the sizes", () => {
    expect(() => loadModel(binBytes().slice(0, 500_000))).toThrow(/truncated.*describes 1056540 bytes.*file has 500000/);
    expect(() => loadModel(binBytes().slice(0, 10))).toThrow(/truncated/);
  });

  it("a truncated GGUF file names the tensor it cannot read", () => {
    expect(() => loadModel(ggufBytes().slice(0, 600_000))).toThrow(/GGUF truncated: tensor \S+ needs bytes/);
    expect(() => loadModel(ggufBytes().slice(0, 2000))).toThrow(/GGUF truncated/);
  });

  it("an unknown architecture is named", () => {
    const bytes = writeLlamaGguf(stories("bin").model, { architecture: "mamba" });
    expect(() => loadModel(bytes)).toThrow(/unknown architecture "mamba"/);
  });

  it("an unsupported dtype is named with its tensor", () => {
    const bytes = writeGguf(
      [["general.architecture", { type: "string", value: "llama" }]],
      [{ name: "token_embd.weight", dims: [32, 2], data: new Float32Array(64), type: GGML_TYPE.F32 }],
    );
    // Patch the tensor's type field (last u32 before the u64 offset) to Q3_K (11), which the loader does not read.
    const file = parseGguf(bytes);
    expect(file.tensors.get("token_embd.weight")!.type).toBe(0);
    const dv = new DataView(bytes.buffer);
    let patched = false;
    for (let o = 0; o + 12 <= bytes.length; o += 1) {
      if (dv.getUint32(o, true) === 2 && dv.getUint32(o - 8, true) === 32 && dv.getUint32(o + 8, true) === 0 && dv.getBigUint64(o + 12, true) === 0n) {
        dv.setUint32(o + 8, 11, true);
        patched = true;
        break;
      }
    }
    expect(patched).toBe(true);
    expect(() => parseGguf(bytes)).toThrow(/tensor token_embd.weight: unsupported dtype Q3_K \(supported: .*Q4_K, Q5_K, Q6_K\)/);
  });

  it("a shape mismatch names the tensor and both shapes", () => {
    const model = stories("bin").model;
    const broken = { ...model, weights: { ...model.weights, layers: model.weights.layers.map((l) => ({ ...l })) } };
    broken.weights.layers[1]!.wk = new Float32Array(64 * 64); // kv dim 32 expected
    const bytes = writeLlamaGguf({ config: { ...model.config }, weights: broken.weights });
    // The writer trusts the config for dims, so write it by hand with the wrong dims instead.
    const file = parseGguf(bytes);
    expect(file.tensors.get("blk.1.attn_k.weight")!.dims).toEqual([64, 32]);
    const tensors = [...file.tensors.values()].map((t) => ({
      name: t.name,
      dims: t.name === "blk.1.attn_k.weight" ? [64, 64] : t.dims,
      type: t.type,
      data: dequantize(file.bytes, t.offset, t.type, (t.name === "blk.1.attn_k.weight" ? 64 * 64 : t.dims.reduce((a, b) => a * b, 1))),
    }));
    const meta = [...file.metadata.entries()].map(([k, v]) => [k, typeof v === "string" ? { type: "string", value: v } : { type: "u32", value: Number(v) }] as const);
    const bad = writeGguf(meta.filter(([k]) => !k.includes("eps") && !k.includes("freq")) as never, tensors);
    expect(() => loadModel(bad)).toThrow(/tensor blk\.1\.attn_k\.weight has shape \[64, 64\], expected \[64, 32\]/);
  });

  it("llama2.c's newer ak42 export format is refused by name", () => {
    const b = new Uint8Array(256);
    new DataView(b.buffer).setUint32(0, 0x616b3432, true);
    expect(() => loadModel(b)).toThrow(/ak42/);
  });

  it("writes llama2.c checkpoints that read back identically (unshared classifier too)", () => {
    const model = stories("bin").model;
    const again = loadModel(writeLlama2c(model));
    expect(maxAbsDiff(logitsFor(again), logitsFor(model))).toBe(0);
    const unshared = { config: model.config, weights: { ...model.weights, classifier: model.weights.tokenEmbedding.map((x) => x * 0.5) } };
    const back = loadModel(writeLlama2c(unshared));
    expect(back.weights.classifier).not.toBe(back.weights.tokenEmbedding);
    expect(Array.from(back.weights.classifier.subarray(0, 5))).toEqual(Array.from(unshared.weights.classifier.subarray(0, 5)));
  });

  it("the GGUF tokenizer maps sentencepiece's U+2581 to spaces", () => {
    const data = ggufTokenizer(ggufBytes());
    expect(data.pieces.some((p) => p.includes("\u2581"))).toBe(false);
    expect(data.pieces.filter((p) => p.startsWith(" ")).length).toBeGreaterThan(50);
  });
});

