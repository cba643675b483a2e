// Q8_0 on the two-thread WASM backend: each int8 kernel call split between the threads
// gives what one thread gives (the same rows and dots bit for bit; the down sums to float
// rounding, their halves being added after), on odd sizes, masks and the real model.
import { afterAll, describe, expect, it } from "vitest";
import { ThreadedWasmBackend } from "../../cli/wasm-threads.ts";
import { WasmBackend } from "../../shared/engine/backend/index.ts";
import { compactOf } from "../../shared/engine/compact-ffn.ts";
import { FfnBundles } from "../../shared/engine/ffn-bundles.ts";
import { q8Matvec } from "../../shared/engine/q8-kernels.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { quantizeQ8 } from "../../shared/model/q8.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr, runDownSum, runFfn, seeded } from "./helpers.ts";

describe("Q8_0 on wasm-mt", () => {
  const mt = new ThreadedWasmBackend({ minSplit: 0 });
  const one = new WasmBackend({ segmentBytes: 64 << 20 });
  afterAll(() => mt.close());

  it("matvecQ8 splits the rows (odd and even counts) and equals one thread bit for bit", () => {
    for (const [rows, cols] of [[9, 64], [33, 96], [64, 64], [1001, 96]] as const) {
      const m = quantizeQ8(seeded(rows * cols, rows), rows, cols);
      const x = seeded(cols, cols);
      const before = mt.q8Splits;
      const [a, b, r] = [new Float32Array(rows), new Float32Array(rows), new Float32Array(rows)];
      mt.matvecQ8(a, x, mt.adoptQ8(m));
      one.matvecQ8(b, x, one.adoptQ8(m));
      q8Matvec(r, x, m);
      expect(mt.q8Splits).toBe(before + 1);
      expect(Array.from(a)).toEqual(Array.from(b));
      expect(relErr(a, r)).toBeLessThan(1e-5);
    }
  });

  it("the Q8_0 FFN and down sum split their slots (masks of every size mod 4) and agree with one thread", () => {
    const dim = 64, hidden = 96;
    const layer = { wGate: seeded(hidden * dim, 41), wUp: seeded(hidden * dim, 42), wDown: seeded(dim * hidden, 43) };
    const bm = FfnBundles.fromDense(layer, dim, hidden, (n) => mt.alloc(n), "q8_0");
    const b1 = FfnBundles.fromDense(layer, dim, hidden, (n) => one.alloc(n), "q8_0");
    const x = seeded(dim, 44), bias = seeded(dim, 45);
    for (const k of [8, 9, 10, 11, 29, hidden]) {
      const kept = k === hidden ? Int32Array.from({ length: hidden }, (_, i) => i) : keepSome(hidden, k / hidden, k);
      const before = mt.q8Splits;
      const [two, single] = [runFfn(mt, bm, kept, x, bias), runFfn(one, b1, kept, x, bias)];
      expect(mt.q8Splits).toBe(before + 2);
      expect(Array.from(two.hb)).toEqual(Array.from(single.hb));
      expect(relErr(two.out, single.out)).toBeLessThan(1e-6);
      const a = seeded(k, 46);
      expect(relErr(runDownSum(mt, bm, kept, a), runDownSum(one, b1, kept, a))).toBeLessThan(1e-6);
    }
  });

  it("batched (prefill) Q8_0 calls split rows and tokens and equal one thread bit for bit", () => {
    const [rows, cols, ntok] = [45, 64, 7];
    const m = quantizeQ8(seeded(rows * cols, 61), rows, cols);
    const x = seeded(cols * ntok, 62);
    const [a, b] = [new Float32Array(rows * ntok), new Float32Array(rows * ntok)];
    let before = mt.q8Splits;
    mt.matmulQ8(a, x, mt.adoptQ8(m), ntok);
    one.matmulQ8(b, x, one.adoptQ8(m), ntok);
    expect(mt.q8Splits).toBe(before + 1);
    expect(Array.from(a)).toEqual(Array.from(b));
    const dim = 64, hidden = 96;
    const layer = { wGate: seeded(hidden * dim, 63), wUp: seeded(hidden * dim, 64), wDown: seeded(dim * hidden, 65) };
    const bm = FfnBundles.fromDense(layer, dim, hidden, (n) => mt.alloc(n), "q8_0");
    const b1 = FfnBundles.fromDense(layer, dim, hidden, (n) => one.alloc(n), "q8_0");
    const kept = keepSome(hidden, 0.4, 66);
    const k = kept.length;
    const xs = seeded(dim * ntok, 67);
    before = mt.q8Splits;
    const outs = [[mt, bm], [one, b1]].map(([be, bb]) => {
      const hb = new Float32Array(k * ntok), hb2 = new Float32Array(k * ntok), out = new Float32Array(dim * ntok);
      (be as WasmBackend).compactFfnBatch(compactOf(bb as FfnBundles, kept, null), xs, hb, hb2, out, dim, ntok);
      return [hb, out];
    });
    expect(mt.q8Splits).toBe(before + 3);
    expect(Array.from(outs[0]![0]!)).toEqual(Array.from(outs[1]![0]!));
    expect(Array.from(outs[0]![1]!)).toEqual(Array.from(outs[1]![1]!));
  });

  it("a Q8_0 Transformer on two threads gives one thread's logits, dense and masked", () => {
    const { model } = stories();
    const c = model.config;
    const [a, b] = [new Transformer(model, { backend: mt, weights: "q8_0" }), new Transformer(model, { backend: one, weights: "q8_0" })];
    for (const keep of [null, 0.3]) {
      const [sa, sb] = [a.newState(), b.newState()];
      if (keep !== null) {
        for (let l = 0; l < c.nLayers; l++) {
          const kept = keepSome(c.hiddenDim, keep, l);
          sa.ffn[l] = compactOf(a.ffn[l]!, kept);
          sb.ffn[l] = compactOf(b.ffn[l]!, kept);
        }
      }
      const before = mt.q8Splits;
      for (const [pos, tok] of [1, 403, 407, 261, 378].entries()) expect(relErr(a.forward(sa, tok, pos), b.forward(sb, tok, pos))).toBeLessThan(1e-5);
      expect(mt.q8Splits).toBeGreaterThan(before + 5 * c.nLayers * 4);
      a.releaseState(sa);
      b.releaseState(sb);
    }
  });
});
