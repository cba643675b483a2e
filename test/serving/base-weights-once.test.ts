// A node loaded from the weight store holds its base weights (embeddings, attention, norms,
// classifier) once: in the engine (WASM memory). The store's decoded copies are released once
// the engine has taken them, so the garbage collector frees them (212 MB at stories110M's shape).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Transformer } from "../../shared/engine/transformer.ts";
import { baseModelFromStore } from "../../shared/weights/model-from-store.ts";
import { openModelFromStore } from "../../shared/weights/open-model.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { stories } from "../helpers/model-dir.ts";
import { bits, servingShardSet, type TempShardSet } from "../weights/shard-set.ts";

// The test runner starts workers without --expose-gc; V8 can still hand out its gc function.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

let set: TempShardSet;
beforeAll(async () => {
  set = await servingShardSet();
});
afterAll(() => set?.remove());

const ENGINE_TENSORS = ["token_embd", "output_norm", "blk.0.attn_q", "blk.0.attn_norm", "blk.4.attn_output", "blk.4.ffn_norm"];

describe("base weights held once on a store-loaded node", () => {
  for (const denseFfn of [true, false]) {
    it(`${denseFfn ? "full" : "sparse"} node: the store keeps only DART's proxy and W_down norms, not the engine's tensors`, async () => {
      const m = await openModelFromStore(set.folder, { denseFfn });
      for (const name of ENGINE_TENSORS) expect(m.store.hasTensor(name), name).toBe(false);
      // What the store still references is exactly what shared/dart reads from it.
      const proxy = m.store.forwardProxy()!;
      const kept = [...proxy.gMax, ...proxy.gMean, ...m.store.downNorms()!].reduce((n, t) => n + t.byteLength, 0);
      expect(kept).toBeGreaterThan(0);
      expect(m.store.baseBytesHeld()).toBe(kept);
    });
  }

  it("the released tensors are collected, and the engine still computes what a file-loaded model does", async () => {
    const store = await WeightStore.open(set.folder);
    const refs = ENGINE_TENSORS.map((name) => new WeakRef(store.tensor(name)));
    const tf = new Transformer(baseModelFromStore(store), { backend: "wasm" });
    store.releaseEngineTensors();
    await new Promise((r) => setTimeout(r, 0)); // WeakRefs hold their targets until the current job ends
    gc();
    gc();
    expect(refs.map((r) => r.deref() === undefined)).toEqual(ENGINE_TENSORS.map(() => true));
    // The engine's copy is intact: its embedding and classifier rows equal the model file's.
    const want = stories().model.weights;
    expect(bits(tf.weights.tokenEmbedding)).toEqual(bits(want.tokenEmbedding));
    expect(bits(tf.weights.layers[4]!.wo as Float32Array)).toEqual(bits(want.layers[4]!.wo as Float32Array));
  });
});
