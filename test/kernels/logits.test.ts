// Whole forward passes: the WASM backend's logits agree with the reference
// TypeScript backend to 1e-4 relative, dense and with compacted FFNs, on the
// real stories260K model and on a synthetic grouped-query shape.
import { describe, expect, it } from "vitest";
import { compactFromDense, compactOf } from "../../shared/engine/compact-ffn.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr, tinyModel } from "./helpers.ts";

/** Worst relative logit error of `wasm` against `ts` over `tokens`, optionally with every layer compacted. */
function compare(model: LoadedModel, tokens: number[], keepFraction: number | null): number {
  const ts = new Transformer(model, { backend: "ts" });
  const wasm = new Transformer(model, { backend: "wasm" });
  expect(wasm.backend.name).toBe("wasm");
  const [st, sw] = [ts.newState(), wasm.newState()];
  const c = model.config;
  if (keepFraction !== null) {
    for (let l = 0; l < c.nLayers; l++) {
      const kept = keepSome(c.hiddenDim, keepFraction, 100 + l);
      st.ffn[l] = compactFromDense(model.weights.layers[l]!, c.dim, c.hiddenDim, kept); // a gathered copy
      sw.ffn[l] = compactOf(wasm.ffn[l]!, kept); // an index list over the resident bundles
    }
  }
  let worst = 0;
  tokens.forEach((tok, pos) => {
    const want = ts.forward(st, tok, pos);
    const got = wasm.forward(sw, tok, pos);
    worst = Math.max(worst, relErr(got, want));
  });
  return worst;
}

describe("WASM backend logits agree with the reference", () => {
  const { model, tok } = stories();
  const ids = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play", { bos: true });

  it("stories260K, dense", () => {
    expect(compare(model, ids, null)).toBeLessThan(1e-4);
  });

  it("stories260K, compacted FFNs at 0.5 and 0.3 kept", () => {
    expect(compare(model, ids, 0.5)).toBeLessThan(1e-4);
    expect(compare(model, ids, 0.3)).toBeLessThan(1e-4);
  });

  it("synthetic tiny shape (grouped-query attention, 12-wide heads), dense and compacted", () => {
    const m = tinyModel(3);
    const toks = Array.from({ length: 20 }, (_, i) => (i * 37) % m.config.vocabSize);
    expect(compare(m, toks, null)).toBeLessThan(1e-4);
    expect(compare(m, toks, 0.3)).toBeLessThan(1e-4);
  });

  it("the default backend is wasm here, and the state lives in WASM memory", () => {
    const tf = new Transformer(model);
    expect(tf.backend.name).toBe("wasm");
    const s = tf.newState();
    // One segment holds weights and state: no vector is copied per kernel call.
    expect(s.keyCache.buffer).toBe((tf.weights.classifier as Float32Array).buffer);
    expect(s.logits.buffer).toBe(tf.ffn[0]!.data.buffer);
  });
});

describe("DART_BACKEND", () => {
  it("selects the backend of CLI commands, and rejects unknown names", async () => {
    const { backendFromEnv } = await import("../../cli/backend-env.ts");
    expect(backendFromEnv({})).toBeUndefined();
    expect(backendFromEnv({ DART_BACKEND: "ts" })).toBe("ts");
    expect(backendFromEnv({ DART_BACKEND: "wasm" })).toBe("wasm");
    expect(() => backendFromEnv({ DART_BACKEND: "gpu" })).toThrow(/DART_BACKEND/);
  });
});
