// The WASM SIMD kernels against the reference TypeScript kernels, one by one,
// including vectors that live outside WASM memory (the scratch-copy path).
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { WasmBackend } from "../../shared/engine/backend/index.ts";
import { kernelsWasmBytes } from "../../shared/engine/backend/wasm-kernels.ts";
import { compactFromDense, compactOf, packedWeights } from "../../shared/engine/compact-ffn.ts";
import { FfnBundles } from "../../shared/engine/ffn-bundles.ts";
import { SLOT_FLOATS } from "../../shared/engine/backend/wasm-arena.ts";
import * as ref from "../../shared/engine/kernels.ts";
import { keepSome, relErr, seeded } from "./helpers.ts";

describe("WASM SIMD kernels", () => {
  it("the committed kernels.wasm is what the encoder emits (npm run gen:wasm)", () => {
    const committed = readFileSync(resolve(import.meta.dirname, "../../shared/engine/backend/kernels.wasm"));
    expect(Buffer.from(kernelsWasmBytes()).equals(committed)).toBe(true);
  });

  it("matvec agrees with the reference, in place and through scratch copies", () => {
    const be = new WasmBackend();
    for (const [n, d] of [[172, 37], [64, 64], [768, 5], [12, 3]] as const) {
      const w = be.adopt(seeded(n * d, n + d));
      const xJs = seeded(n, 7);
      const want = new Float32Array(d);
      ref.matvec(want, xJs, w, n, d);
      const outJs = new Float32Array(d);
      be.matvec(outJs, xJs, w, n, d); // x and out outside WASM memory
      expect(relErr(outJs, want)).toBeLessThan(1e-6);
      const x = be.alloc(n), out = be.alloc(d);
      x.set(xJs);
      be.matvec(out, x, w, n, d); // everything in place
      expect(relErr(out, want)).toBeLessThan(1e-6);
    }
  });

  it("the batched matmul (prefill) agrees with the reference for odd row counts and token counts not a multiple of 4", () => {
    const be = new WasmBackend();
    for (const [n, d, ntok] of [[172, 37, 5], [64, 1, 4], [768, 6, 7], [12, 3, 1]] as const) {
      const w = be.adopt(seeded(n * d, n + d));
      const x = seeded(n * ntok, 9);
      const want = new Float32Array(d * ntok), got = new Float32Array(d * ntok);
      ref.matmul(want, x, w, n, d, ntok);
      be.matmul(got, x, w, n, d, ntok);
      expect(relErr(got, want)).toBeLessThan(1e-6);
      // independently: token t's row i is the plain dot product
      const t = ntok - 1, i = d - 1;
      let s = 0;
      for (let j = 0; j < n; j++) s += w[i * n + j]! * x[t * n + j]!;
      expect(got[t * d + i]!).toBeCloseTo(s, 4);
    }
  });

  it("matvec falls back to the reference for widths that are not a multiple of 4", () => {
    const be = new WasmBackend();
    const w = be.adopt(seeded(7 * 5, 3)), x = seeded(7, 4);
    const got = new Float32Array(5), want = new Float32Array(5);
    be.matvec(got, x, w, 7, 5);
    ref.matvec(want, x, w, 7, 5);
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it("attention agrees with the reference (grouped-query, several positions)", () => {
    const be = new WasmBackend();
    const shape = { nHeads: 4, kvMul: 2, headSize: 12, kvDim: 24 };
    const seqLen = 16, layerBase = seqLen * shape.kvDim; // second layer of a two-layer cache
    const block = be.alloc(2 * 2 * seqLen * shape.kvDim + 48 * 2 + seqLen);
    const kc = block.subarray(0, 2 * seqLen * 24), vc = block.subarray(2 * seqLen * 24, 4 * seqLen * 24);
    kc.set(seeded(kc.length, 11));
    vc.set(seeded(vc.length, 12));
    const q = block.subarray(4 * seqLen * 24, 4 * seqLen * 24 + 48);
    q.set(seeded(48, 13));
    const out = block.subarray(q.byteOffset / 4 - block.byteOffset / 4 + 48).subarray(0, 48);
    const att = block.subarray(block.length - seqLen);
    for (const pos of [0, 5, 15]) {
      const want = new Float32Array(48), attRef = new Float32Array(seqLen);
      ref.attention(want, q, kc, vc, attRef, layerBase, pos, shape);
      be.attention(out, q, kc, vc, att, layerBase, pos, shape);
      expect(relErr(out, want)).toBeLessThan(1e-6);
    }
  });

  it("attention over more positions than a scratch slot holds for all heads' scores takes the per-head path and agrees", () => {
    const be = new WasmBackend();
    const shape = { nHeads: 4, kvMul: 1, headSize: 4, kvDim: 16 };
    const seqLen = (SLOT_FLOATS >> 2) + 10; // nHeads * (pos + 1) > SLOT_FLOATS at the last positions
    const block = be.alloc(2 * seqLen * shape.kvDim + 16 + 16 + seqLen);
    const kc = block.subarray(0, seqLen * 16), vc = block.subarray(seqLen * 16, 2 * seqLen * 16);
    kc.set(seeded(kc.length, 21));
    vc.set(seeded(vc.length, 22));
    const q = block.subarray(2 * seqLen * 16, 2 * seqLen * 16 + 16);
    q.set(seeded(16, 23));
    const out = block.subarray(2 * seqLen * 16 + 16, 2 * seqLen * 16 + 32);
    const att = block.subarray(2 * seqLen * 16 + 32);
    for (const pos of [100, seqLen - 1]) {
      const want = new Float32Array(16), attRef = new Float32Array(seqLen);
      ref.attention(want, q, kc, vc, attRef, 0, pos, shape);
      be.attention(out, q, kc, vc, att, 0, pos, shape);
      expect(relErr(out, want)).toBeLessThan(1e-5);
    }
  });

  it("a compacted FFN agrees with the reference, dense and over an index list, with the mean-compensation bias", () => {
    const be = new WasmBackend();
    const dim = 48, hidden = 128;
    const layer = { wGate: seeded(hidden * dim, 1), wUp: seeded(hidden * dim, 2), wDown: seeded(dim * hidden, 3) };
    const resident = FfnBundles.fromDense(layer, dim, hidden, (n) => be.alloc(n));
    const x = seeded(dim, 5);
    const bias = seeded(dim, 77); // the pruned neurons' mean output, as DART's compensation adds it
    for (const kept of [keepSome(hidden, 0.3, 9), keepSome(hidden, 0.71, 4), Int32Array.from({ length: hidden }, (_, i) => i)]) {
      const plain = { ...compactFromDense({ ...layer } as never, dim, hidden, kept), bias };
      const f = compactOf(resident, kept, bias);
      const want = { hb: new Float32Array(hidden), out: new Float32Array(dim) };
      ref.compactFfn(plain, x, want.hb, new Float32Array(hidden), want.out, dim);
      const got = { hb: new Float32Array(hidden), out: new Float32Array(dim) };
      be.compactFfn(f, x, got.hb, new Float32Array(hidden), got.out, dim);
      expect(relErr(got.out, want.out)).toBeLessThan(1e-5);
      expect(relErr(got.hb.subarray(0, kept.length), want.hb.subarray(0, kept.length))).toBeLessThan(1e-5);
      // Independently: out = W_down . act + bias, from the row-major matrix.
      for (const d of [0, 17, dim - 1]) {
        let sum = bias[d]!;
        kept.forEach((j, i) => (sum += layer.wDown[d * hidden + j]! * want.hb[i]!));
        expect(got.out[d]!).toBeCloseTo(sum, 4);
      }
    }
    // A mask is an index list: building one uploaded nothing and copied no weights.
    expect(be.compactResidentBytes).toBe(0);
  });

  it("a prefill block wider than a scratch slot (8B-like FFN) runs on the WASM kernels in parts, equal to the reference", () => {
    const be = new WasmBackend();
    const dim = 64, hidden = 8192, ntok = 40; // hidden * ntok = 327,680 activations > SLOT_FLOATS (262,144)
    expect(hidden * ntok).toBeGreaterThan(SLOT_FLOATS);
    const layer = { wGate: seeded(hidden * dim, 1), wUp: seeded(hidden * dim, 2), wDown: seeded(dim * hidden, 3) };
    const outside = FfnBundles.fromDense(layer, dim, hidden, (n) => new Float32Array(n)); // as a node builds them from shards
    const all = Int32Array.from({ length: hidden }, (_, i) => i);
    const f = compactOf(outside, all);
    const x = seeded(dim * ntok, 5);
    const want = { hb: new Float32Array(hidden * ntok), out: new Float32Array(dim * ntok) };
    ref.compactFfnBatch(compactFromDense({ ...layer } as never, dim, hidden, all), x, want.hb, new Float32Array(hidden * ntok), want.out, dim, ntok);
    const got = { hb: new Float32Array(hidden * ntok), out: new Float32Array(dim * ntok) };
    be.compactFfnBatch(f, x, got.hb, new Float32Array(hidden * ntok), got.out, dim, ntok);
    expect(relErr(got.out, want.out)).toBeLessThan(1e-5);
    expect(relErr(got.hb, want.hb)).toBeLessThan(1e-5);
    // The WASM path ran (the reference fallback uploads nothing): the bundles are now resident.
    expect(be.compactResidentBytes).toBe(hidden * 3 * dim * 4);
  });

  it("downSum is the weighted sum of the listed neurons' W_down columns", () => {
    const be = new WasmBackend();
    const dim = 32, hidden = 96;
    const layer = { wGate: seeded(hidden * dim, 1), wUp: seeded(hidden * dim, 2), wDown: seeded(dim * hidden, 3) };
    const b = FfnBundles.fromDense(layer, dim, hidden, (n) => be.alloc(n));
    const neurons = Int32Array.of(0, 3, 4, 50, 95);
    const a = seeded(neurons.length, 8);
    const got = new Float32Array(dim);
    be.downSum(got, b, b.slotsFor(neurons), a);
    for (let d = 0; d < dim; d++) {
      let s = 0;
      neurons.forEach((j, i) => (s += a[i]! * layer.wDown[d * hidden + j]!));
      expect(got[d]!).toBeCloseTo(s, 5);
    }
  });

  it("bundles built outside WASM memory (from shard bytes) are uploaded once, released and reused", () => {
    const be = new WasmBackend();
    const dim = 48, hidden = 128;
    const layer = { wGate: seeded(hidden * dim, 1), wUp: seeded(hidden * dim, 2), wDown: seeded(dim * hidden, 3) } as never;
    const kept = keepSome(hidden, 0.3, 9);
    const plain = compactFromDense(layer, dim, hidden, kept);
    const f = compactFromDense(layer, dim, hidden, kept);
    const x = seeded(dim, 5);
    const run = (g: typeof f) => be.compactFfn(g, x, new Float32Array(hidden), new Float32Array(hidden), new Float32Array(dim), dim);
    run(f);
    expect(be.arena.segmentOf(f.bundles.data)).toBeDefined();
    expect(packedWeights(f)).toEqual(packedWeights(plain));
    const resident = be.compactResidentBytes;
    expect(resident).toBe(3 * kept.length * dim * 4);
    run(f);
    expect(be.compactResidentBytes).toBe(resident);
    be.release(f);
    expect(be.arena.segmentOf(f.bundles.data)).toBeUndefined();
    expect(packedWeights(f)).toEqual(packedWeights(plain));
    expect(be.compactResidentBytes).toBe(0);
    const g = compactFromDense(layer, dim, hidden, keepSome(hidden, 0.2, 10));
    const before = be.arena.segments[0]!.used;
    run(g);
    expect(be.arena.segments[0]!.used).toBe(before); // reused the freed block
  });
});

describe("WASM memory reuse", () => {
  it("a released inference state's memory is reused by the next state", async () => {
    const { Transformer } = await import("../../shared/engine/transformer.ts");
    const { tinyModel } = await import("./helpers.ts");
    const tf = new Transformer(tinyModel(2), { backend: "wasm" });
    const a = tf.newState();
    tf.forward(a, 3, 0);
    tf.releaseState(a);
    const used = (tf.backend as WasmBackend).arena.segments.map((s) => s.used);
    const b = tf.newState();
    expect((tf.backend as WasmBackend).arena.segments.map((s) => s.used)).toEqual(used);
    expect(b.block.byteOffset).toBe(a.block.byteOffset);
    expect(b.keyCache.every((x) => x === 0)).toBe(true); // handed out zeroed
  });
});

describe("compacted FFN blocks across states", () => {
  it("releaseState discards the installed compacted FFNs (built outside WASM memory), and the next state's masks reuse their blocks", async () => {
    const { Transformer } = await import("../../shared/engine/transformer.ts");
    const { tinyModel } = await import("./helpers.ts");
    const model = tinyModel(4);
    const tf = new Transformer(model, { backend: "wasm" });
    const be = tf.backend as WasmBackend;
    const c = tf.config;
    const install = (s: ReturnType<typeof tf.newState>) => {
      for (let l = 0; l < c.nLayers; l++) s.ffn[l] = compactFromDense(model.weights.layers[l]!, c.dim, c.hiddenDim, keepSome(c.hiddenDim, 0.5, l));
    };
    const a = tf.newState();
    install(a);
    tf.forward(a, 5, 0);
    const resident = be.compactResidentBytes;
    expect(resident).toBe(c.nLayers * 3 * 64 * c.dim * 4);
    tf.releaseState(a);
    expect(be.compactResidentBytes).toBe(0);
    const used = be.arena.segments.map((s) => s.used);
    for (let i = 0; i < 3; i++) {
      const b = tf.newState();
      install(b);
      tf.forward(b, 5, 0);
      tf.releaseState(b);
    }
    expect(be.arena.segments.map((s) => s.used)).toEqual(used); // nothing new allocated
  });
});

describe("states nobody releases", () => {
  it("go back to the WASM arena once they and their buffers are garbage", async () => {
    const { setFlagsFromString } = await import("node:v8");
    const { runInNewContext } = await import("node:vm");
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void; // a real collection, not hope
    const { Transformer } = await import("../../shared/engine/transformer.ts");
    const { tinyModel } = await import("./helpers.ts");
    const tf = new Transformer(tinyModel(5), { backend: "wasm" });
    const be = tf.backend as WasmBackend;
    const used = () => be.arena.segments.map((s) => s.used);
    const freedBlocks = () => [...(be.arena as unknown as { freed: Map<number, unknown[]> }).freed.values()].reduce((a, l) => a + l.length, 0);
    // Collect until the 3 dropped states' blocks are back in the arena's free list. Finalizers run
    // on a later task, at a time the engine chooses: wait for the outcome (up to 200 rounds), not a delay.
    const collect = async () => {
      for (let i = 0; i < 200 && freedBlocks() < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(freedBlocks()).toBe(3);
    };
    for (let i = 0; i < 3; i++) tf.forward(tf.newState(), 1, 0);
    await collect();
    const steady = used();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 3; i++) tf.forward(tf.newState(), 1, 0);
      expect(freedBlocks()).toBe(0); // the new states took the freed blocks...
      await collect();
      expect(used()).toEqual(steady); // ...and nothing new was allocated
    }
  });
});
