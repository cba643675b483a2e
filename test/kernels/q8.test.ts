// Q8_0 weights kept quantized: the format against its definition, the WASM SIMD integer
// kernels against the scalar reference, the engine against fp32 on the real model, and a
// GGUF q8_0 file's tensors loaded as they are.
import { describe, expect, it } from "vitest";
import { compactOf } from "../../shared/engine/compact-ffn.ts";
import { FfnBundles } from "../../shared/engine/ffn-bundles.ts";
import { tsBackend, WasmBackend } from "../../shared/engine/backend/index.ts";
import { q8Matvec, quantizeActivations } from "../../shared/engine/q8-kernels.ts";
import { ggufQ8Model } from "../../shared/engine/q8-model.ts";
import { PREFILL_BLOCK, Transformer } from "../../shared/engine/transformer.ts";
import { f16ToF32, GGML_TYPE, quantize } from "../../shared/model/dtypes.ts";
import { parseGguf } from "../../shared/model/gguf.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { dequantizeQ8, q8FromBlocks, q8ToBlocks, quantizeQ8, type Q8Matrix } from "../../shared/model/q8.ts";
import { matvec } from "../../shared/engine/kernels.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr, runDownSum, runFfn, seeded } from "./helpers.ts";

const argmax = (a: Float32Array) => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);

describe("Q8_0 format", () => {
  it("quantizes a block as the definition says: d = max|x| / 127, q = round-half-away(x / d), d stored as f16", () => {
    const x = Float32Array.from({ length: 32 }, (_, j) => (j - 16) * 0.1); // max |x| = 1.6 at j = 0
    const m = quantizeQ8(x, 1, 32);
    // Computed here by hand: x / d = (j - 16) * 127 / 16.
    const want = Array.from({ length: 32 }, (_, j) => {
      const r = ((j - 16) * 127) / 16;
      return Math.sign(r) * Math.floor(Math.abs(r) + 0.5);
    });
    expect(Array.from(m.q)).toEqual(want);
    expect(m.q[0]).toBe(-127);
    expect(Math.abs(m.d[0]! - 1.6 / 127)).toBeLessThan(1e-5); // an f16: 11 significant bits
    expect(m.d[0]).toBe(f16ToF32(new DataView(quantize(x, GGML_TYPE.Q8_0).buffer).getUint16(0, true)));
    // Dequantized, each value is within half a step (plus the f16 rounding of d) of the input.
    const back = dequantizeQ8(m);
    for (let j = 0; j < 32; j++) expect(Math.abs(back[j]! - x[j]!)).toBeLessThanOrEqual(m.d[0]! / 2 + 127 * Math.abs(m.d[0]! - 1.6 / 127) + 1e-7);
    // An all-zero block has d = 0 and q = 0.
    const z = quantizeQ8(new Float32Array(32), 1, 32);
    expect(z.d[0]).toBe(0);
    expect(Array.from(z.q).every((v) => v === 0)).toBe(true);
  });

  it("gives the same block bytes as the GGUF writer's ggml reference quantizer, and round-trips GGUF blocks exactly", () => {
    const x = seeded(8 * 96, 5).map((v, i) => v * (1 + (i % 7))); // blocks of different ranges
    const m = quantizeQ8(x, 8, 96);
    const ggml = quantize(x, GGML_TYPE.Q8_0);
    expect(Array.from(q8ToBlocks(m.q, m.d, 0, x.length))).toEqual(Array.from(ggml));
    const again = q8FromBlocks(ggml, 0, 8, 96);
    expect(Array.from(again.q)).toEqual(Array.from(m.q));
    expect(Array.from(again.d)).toEqual(Array.from(m.d));
  });

  it("rejects rows that are not whole blocks", () => {
    expect(() => quantizeQ8(new Float32Array(40), 1, 40)).toThrow(/multiple of 32/);
  });
});

describe("WASM SIMD integer kernels", () => {
  const wasm = new WasmBackend({ segmentBytes: 64 << 20 });
  /** The Q8_0 FFN (activations and output) and the down sum of `fast` on wasm agree with `ref`'s on the reference backend. */
  const expectFfnAgrees = (ref: FfnBundles, fast: FfnBundles, kept: Int32Array, x: Float32Array, bias: Float32Array | null, a: Float32Array) => {
    const [want, got] = [runFfn(tsBackend, ref, kept, x, bias), runFfn(wasm, fast, kept, x, bias)];
    expect(relErr(got.hb, want.hb)).toBeLessThan(1e-5);
    expect(relErr(got.out, want.out)).toBeLessThan(1e-5);
    expect(relErr(runDownSum(wasm, fast, kept, a), runDownSum(tsBackend, ref, kept, a))).toBeLessThan(1e-5);
  };

  for (const [rows, cols] of [[64, 96], [33, 64], [512, 288]] as const) {
    it(`matvecQ8 of a ${rows} x ${cols} matrix agrees with the scalar reference (integer sums, same scales)`, () => {
      const w = wasm.adoptQ8(quantizeQ8(seeded(rows * cols, rows), rows, cols));
      const x = seeded(cols, 11);
      const got = new Float32Array(rows), want = new Float32Array(rows), f32 = new Float32Array(rows);
      wasm.matvecQ8(got, x, w);
      q8Matvec(want, x, w);
      expect(relErr(got, want)).toBeLessThan(1e-5);
      // And both are the fp32 product up to quantization error (weights and activations, 8 bits each).
      matvec(f32, x, dequantizeQ8(w), cols, rows);
      expect(relErr(want, f32)).toBeLessThan(2e-2);
    });
  }

  it("the Q8_0 FFN (dense, masked, with a bias) and the down-column sum agree with the scalar reference", () => {
    const { model } = stories();
    const { dim, hiddenDim } = model.config;
    const layer = model.weights.layers[1]!;
    const ref = FfnBundles.fromDense(layer, dim, hiddenDim, undefined, "q8_0");
    const fast = FfnBundles.fromDense(layer, dim, hiddenDim, (n) => wasm.alloc(n), "q8_0");
    const x = seeded(dim, 3);
    const bias = seeded(dim, 4);
    for (const kept of [Int32Array.from({ length: hiddenDim }, (_, i) => i), keepSome(hiddenDim, 0.3, 9)]) {
      const k = kept.length;
      expectFfnAgrees(ref, fast, kept, x, bias, seeded(k, 8));
    }
  });

  it("q8_quantize (WASM) gives quantizeActivations' int8s and scales bit for bit, halves rounded away from zero", () => {
    const seg = wasm.arena.segments[0]!;
    const n = 160; // five blocks
    const x = seeded(n, 21).map((v, i) => v * (1 + (i >> 5) * 37));
    x.fill(0, 64, 96); // an all-zero block: d = 0, q = 0
    // Block 4 has max |x| = 127, so d = 1 and x itself is what gets rounded: halves go away from zero.
    const halves = [2.5, -2.5, 0.5, -0.5, 126.5, -126.5, 0.49999997, -0, 1.5, -1.5];
    x.fill(0.25, 128, 160);
    x.set([127, ...halves], 128);
    const xo = wasm.alloc(n);
    xo.set(x);
    const x16 = 1 << 16, xd = x16 + n * 2; // scratch bytes of the first slot
    seg.kernels.q8_quantize(xo.byteOffset, n, x16, xd);
    const got = new Int16Array(seg.buffer, x16, n), gotD = new Float32Array(seg.buffer, xd, n / 32);
    const want = new Int16Array(n), wantD = new Float32Array(n / 32);
    quantizeActivations(x, n, want, wantD);
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from(gotD)).toEqual(Array.from(wantD));
    expect(gotD[2]).toBe(0);
    expect(Array.from(got.subarray(64, 96)).every((v) => v === 0)).toBe(true);
    expect(gotD[4]).toBe(1);
    expect(Array.from(got.subarray(128, 139))).toEqual([127, 3, -3, 1, -1, 127, -127, 0, 0, 2, -2]);
    // Within half a step of x everywhere.
    for (let i = 0; i < n; i++) expect(Math.abs(got[i]! * gotD[(i / 32) | 0]! - x[i]!)).toBeLessThanOrEqual(gotD[(i / 32) | 0]! * 0.5 * (1 + 1e-6));
  });

  it("the Q8_0 FFN and down sum agree with the reference for every slot count mod 4 (the kernels' one-slot tails)", () => {
    const dim = 64, hidden = 40;
    const layer = { wGate: seeded(hidden * dim, 31), wUp: seeded(hidden * dim, 32), wDown: seeded(dim * hidden, 33) };
    const ref = FfnBundles.fromDense(layer, dim, hidden, undefined, "q8_0");
    const fast = FfnBundles.fromDense(layer, dim, hidden, (n) => wasm.alloc(n), "q8_0");
    const x = seeded(dim, 34);
    for (const k of [1, 2, 3, 4, 5, 7, 33]) {
      const kept = keepSome(hidden, k / hidden, k);
      expect(kept.length).toBe(k);
      expectFfnAgrees(ref, fast, kept, x, null, seeded(k, 35));
    }
  });

  it("batched (prefill) matmulQ8 and Q8_0 FFN agree with the per-token reference for token counts and slot counts of every size mod 4", () => {
    for (const [rows, cols] of [[37, 64], [8, 96]] as const) {
      const w = wasm.adoptQ8(quantizeQ8(seeded(rows * cols, rows + 1), rows, cols));
      for (const ntok of [1, 2, 3, 5, 8, 9]) {
        const x = seeded(cols * ntok, ntok);
        const [got, want] = [new Float32Array(rows * ntok), new Float32Array(rows * ntok)];
        wasm.matmulQ8(got, x, w, ntok);
        tsBackend.matmulQ8(want, x, w, ntok);
        expect(relErr(got, want)).toBeLessThan(1e-5);
      }
    }
    const dim = 64, hidden = 40;
    const layer = { wGate: seeded(hidden * dim, 51), wUp: seeded(hidden * dim, 52), wDown: seeded(dim * hidden, 53) };
    const ref = FfnBundles.fromDense(layer, dim, hidden, undefined, "q8_0");
    const fast = FfnBundles.fromDense(layer, dim, hidden, (n) => wasm.alloc(n), "q8_0");
    const bias = seeded(dim, 54);
    for (const [k, ntok] of [[40, 7], [5, 4], [3, 2], [33, 9]] as const) {
      const kept = keepSome(hidden, k / hidden, k + 1);
      const x = seeded(dim * ntok, 55 + k);
      const outs = [tsBackend, wasm].map((be, i) => {
        const hb = new Float32Array(k * ntok), hb2 = new Float32Array(k * ntok), out = new Float32Array(dim * ntok);
        be.compactFfnBatch(compactOf(i ? fast : ref, kept, bias), x, hb, hb2, out, dim, ntok);
        return { hb, out };
      });
      expect(relErr(outs[1]!.hb, outs[0]!.hb)).toBeLessThan(1e-5);
      expect(relErr(outs[1]!.out, outs[0]!.out)).toBeLessThan(1e-5);
    }
  });

  it("bundles quantize each gate row, up row and down column along dim, within half a step of the fp32 weights", () => {
    const { model } = stories();
    const { dim, hiddenDim } = model.config;
    const layer = model.weights.layers[0]!;
    const b = FfnBundles.fromDense(layer, dim, hiddenDim, undefined, "q8_0");
    for (const j of [0, 100, hiddenDim - 1]) {
      const cols = [layer.wGate.subarray(j * dim, (j + 1) * dim), layer.wUp.subarray(j * dim, (j + 1) * dim),
        Float32Array.from({ length: dim }, (_, d) => layer.wDown[d * hiddenDim + j]!)];
      cols.forEach((want, part) => {
        const got = b.rowValues(j, part as 0 | 1 | 2);
        const step = Math.max(...b.rowQ8(j, part as 0 | 1 | 2).d);
        // Half a step, plus d's f16 rounding (relative 2^-11) over up to 127 steps.
        for (let d = 0; d < dim; d++) expect(Math.abs(got[d]! - want[d]!)).toBeLessThanOrEqual(step * (0.5 + 127 * 2 ** -11) + 1e-7);
      });
    }
    expect(() => b.gate(0)).toThrow(/no fp32 views/);
  });

  it("partial Q8_0 bundles grow (reserve) keeping every resident neuron's int8s and scales", () => {
    const { model } = stories();
    const { dim, hiddenDim } = model.config;
    const layer = model.weights.layers[0]!;
    const b = new FfnBundles(dim, hiddenDim, 4, undefined, "q8_0");
    for (const j of [3, 50, 9]) b.put(j), b.setRow(j, 1, layer.wUp.subarray(j * dim, (j + 1) * dim));
    const before = [3, 50, 9].map((j) => b.rowValues(j, 1));
    expect(b.reserve(40)).not.toBeNull();
    expect(b.capacity).toBe(40);
    [3, 50, 9].forEach((j, i) => expect(Array.from(b.rowValues(j, 1))).toEqual(Array.from(before[i]!)));
    for (let j = 100; j < 130; j++) b.put(j);
    expect(b.resident).toBe(33);
  });
});

describe("the Q8_0 engine on stories260K", () => {
  const { model } = stories();
  /** Greedy tokens of `tf` from BOS, and the argmax of `other` fed the same tokens (teacher forcing). */
  function agreement(a: Transformer, b: Transformer, n: number): number {
    const sa = a.newState(), sb = b.newState();
    let tok = 1, same = 0;
    for (let p = 0; p < n; p++) {
      const next = argmax(a.forward(sa, tok, p));
      if (argmax(b.forward(sb, tok, p)) === next) same++;
      tok = next;
    }
    return same / n;
  }

  it("greedy tokens of int8 and fp32 mostly agree (teacher-forced argmax over 128 positions)", () => {
    const f32 = new Transformer(model, { backend: "wasm" });
    const q8 = new Transformer(model, { backend: "wasm", weights: "q8_0" });
    expect(q8.ffn.every((b) => b.format === "q8_0")).toBe(true);
    expect(q8.weights.layers.every((l) => !(l.wq instanceof Float32Array))).toBe(true);
    const r = agreement(f32, q8, 128);
    expect(r).toBeGreaterThanOrEqual(0.9);
    // The ts reference engine at q8_0 gives the same tokens as the WASM one.
    expect(agreement(q8, new Transformer(model, { backend: "ts", weights: "q8_0" }), 64)).toBeGreaterThanOrEqual(0.98);
  });

  it("a DART-style mask runs over the Q8_0 bundles (prefill and decode), near the fp32 masked logits", () => {
    const kept = keepSome(model.config.hiddenDim, 0.5, 2);
    const logits = (["f32", "q8_0"] as const).map((weights) => {
      const tf = new Transformer(model, { backend: "wasm", weights });
      const s = tf.newState();
      for (let l = 0; l < model.config.nLayers; l++) s.ffn[l] = compactOf(tf.ffn[l]!, kept);
      tf.prefill(s, [1, 403, 407, 261], 0);
      return tf.forward(s, 378, 4).slice();
    });
    expect(relErr(logits[1]!, logits[0]!)).toBeLessThan(0.05);
    expect(argmax(logits[1]!)).toBe(argmax(logits[0]!));
  });

  it("batched prefill at Q8_0 (wasm) equals forward() token by token: logits and KV cache, across a block boundary", () => {
    const tf = new Transformer(model, { backend: "wasm", weights: "q8_0" });
    const ids = Array.from({ length: PREFILL_BLOCK + 5 }, (_, i) => (i * 131 + 1) % model.config.vocabSize);
    const [a, b] = [tf.newState(), tf.newState()];
    let want = new Float32Array(0);
    ids.forEach((t, pos) => (want = tf.forward(a, t, pos).slice()));
    expect(relErr(tf.prefill(b, ids, 0), want)).toBeLessThan(1e-4);
    expect(relErr(b.keyCache, a.keyCache)).toBeLessThan(1e-4);
    expect(relErr(b.valueCache, a.valueCache)).toBeLessThan(1e-4);
  });

  it("a GGUF q8_0 file's tensors load as they are: the file's int8s and f16 scales, never via fp32", () => {
    const bytes = writeLlamaGguf(model, { dtype: GGML_TYPE.Q8_0 });
    const file = parseGguf(bytes);
    const m = ggufQ8Model(bytes);
    const fileBlocks = (name: string, from: number, n: number) => {
      const t = file.tensors.get(name)!;
      expect(t.type).toBe(GGML_TYPE.Q8_0);
      return bytes.subarray(t.offset + (from / 32) * 34, t.offset + ((from + n) / 32) * 34);
    };
    const wq = m.weights.layers[2]!.wq as Q8Matrix;
    const n = wq.rows * wq.cols;
    expect(Array.from(q8ToBlocks(wq.q, wq.d, 0, n))).toEqual(Array.from(fileBlocks("blk.2.attn_q.weight", 0, n)));
    const dim = model.config.dim;
    const gate = m.ffn![3]!.rowQ8(77, 0);
    expect(Array.from(q8ToBlocks(gate.q, gate.d, 0, dim))).toEqual(Array.from(fileBlocks("blk.3.ffn_gate.weight", 77 * dim, dim)));
    const up = m.ffn![3]!.rowQ8(5, 1);
    expect(Array.from(q8ToBlocks(up.q, up.d, 0, dim))).toEqual(Array.from(fileBlocks("blk.3.ffn_up.weight", 5 * dim, dim)));
    // It runs, and mostly agrees with the fp32 model.
    const tf = new Transformer(m, { backend: "wasm" });
    expect(tf.ffn[0]!.format).toBe("q8_0");
    expect(agreement(new Transformer(model, { backend: "wasm" }), tf, 64)).toBeGreaterThanOrEqual(0.85);
  });
});
