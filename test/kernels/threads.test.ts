// The two-thread WASM backend (Node worker_threads, shared WASM memory) agrees with
// the reference, with every kernel call split between the threads.
import { afterAll, describe, expect, it } from "vitest";
import { ThreadedWasmBackend } from "../../cli/wasm-threads.ts";
import { compactFromDense, compactOf } from "../../shared/engine/compact-ffn.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr } from "./helpers.ts";

/** A state of each engine, both running the same masks (keeping `keep` of each layer's neurons), or dense. */
function statesWithMasks(mt: Transformer, ts: Transformer, keep: number | null) {
  const { model } = stories();
  const c = model.config;
  const [a, b] = [mt.newState(), ts.newState()];
  if (keep !== null) {
    for (let l = 0; l < c.nLayers; l++) {
      const kept = keepSome(c.hiddenDim, keep, l);
      a.ffn[l] = compactOf(mt.ffn[l]!, kept);
      b.ffn[l] = compactFromDense(model.weights.layers[l]!, c.dim, c.hiddenDim, kept);
    }
  }
  return [a, b] as const;
}

describe("wasm-mt backend", () => {
  const be = new ThreadedWasmBackend({ minSplit: 0 });
  afterAll(() => be.close());

  it("splits matvecs and compacted FFNs across two threads with logits equal to the reference", () => {
    const { model } = stories();
    const mt = new Transformer(model, { backend: be });
    const ts = new Transformer(model, { backend: "ts" });
    expect((mt.weights.layers[0]!.wq as Float32Array).buffer).toBeInstanceOf(SharedArrayBuffer);
    for (const keep of [null, 0.3]) {
      const [a, b] = statesWithMasks(mt, ts, keep);
      for (const [pos, tok] of [1, 403, 407, 261, 378, 268, 300].entries()) {
        expect(relErr(mt.forward(a, tok, pos), ts.forward(b, tok, pos))).toBeLessThan(1e-4);
      }
      mt.releaseState(a);
    }
  });

  it("splits a prefill block's matmuls and FFN (rows, slots, tokens) with logits and KV cache equal to the reference", () => {
    const { model, tok } = stories();
    const mt = new Transformer(model, { backend: be });
    const ts = new Transformer(model, { backend: "ts" });
    const c = model.config;
    const ids = tok.encode("Once upon a time, there was a little dog who liked to run in the park with his friends.", { bos: true });
    expect(ids.length).toBeGreaterThan(8);
    for (const keep of [null, 0.3]) {
      const [a, b] = statesWithMasks(mt, ts, keep);
      expect(relErr(mt.prefill(a, ids, 0), ts.prefill(b, ids, 0))).toBeLessThan(1e-4);
      const kvEnd = c.nLayers * c.seqLen * c.nKvHeads * (c.dim / c.nHeads);
      expect(relErr(a.keyCache.subarray(0, kvEnd), b.keyCache.subarray(0, kvEnd))).toBeLessThan(1e-4);
      expect(relErr(a.valueCache.subarray(0, kvEnd), b.valueCache.subarray(0, kvEnd))).toBeLessThan(1e-4);
      mt.releaseState(a);
    }
  });
});
