// The neuron-major FFN layout: one copy of the weights, masks as index lists, and
// partial residency (a node holding some neurons of a layer, filled in any order).
import { describe, expect, it } from "vitest";
import { compactFromDense, compactOf, packedWeights } from "../../shared/engine/compact-ffn.ts";
import { FfnBundles, NeuronNotResidentError } from "../../shared/engine/ffn-bundles.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr } from "./helpers.ts";

describe("FfnBundles", () => {
  const { model } = stories();
  const { dim, hiddenDim } = model.config;
  const layer = model.weights.layers[2]!;

  it("holds each neuron's gate row, up row and W_down column contiguously, read from the dense matrices", () => {
    const b = FfnBundles.fromDense(layer, dim, hiddenDim);
    expect(b.data.length).toBe(3 * hiddenDim * dim);
    for (const j of [0, 77, hiddenDim - 1]) {
      const o = b.slotOf[j]! * 3 * dim;
      expect(Array.from(b.data.subarray(o, o + dim))).toEqual(Array.from(layer.wGate.subarray(j * dim, (j + 1) * dim)));
      expect(Array.from(b.data.subarray(o + dim, o + 2 * dim))).toEqual(Array.from(layer.wUp.subarray(j * dim, (j + 1) * dim)));
      expect(Array.from(b.data.subarray(o + 2 * dim, o + 3 * dim))).toEqual(Array.from({ length: dim }, (_, d) => layer.wDown[d * hiddenDim + j]!));
    }
  });

  it("a Transformer keeps one copy: masks are index lists into its bundles, no weights gathered", () => {
    const tf = new Transformer(model, { backend: "wasm" });
    const kept = keepSome(hiddenDim, 0.3, 3);
    const f = compactOf(tf.ffn[1]!, kept);
    expect(f.bundles).toBe(tf.ffn[1]);
    expect(f.slots).toEqual(kept); // a dense layer's slot j is neuron j
    expect(packedWeights(f)).toEqual(packedWeights(compactFromDense(model.weights.layers[1]!, dim, hiddenDim, kept)));
  });

  it("partial residency: neurons put in any order into fewer slots run the same mask as the full layer", () => {
    const full = new Transformer(model, { backend: "wasm" });
    const kept = model.weights.layers.map((_, l) => keepSome(hiddenDim, 0.4, 10 + l));
    // A node holding only each layer's kept neurons (plus room for 8 more), filled in reverse order.
    const partial = model.weights.layers.map((lw, l) => {
      const b = new FfnBundles(dim, hiddenDim, kept[l]!.length + 8);
      for (const j of [...kept[l]!].reverse()) {
        b.put(j);
        b.gate(j).set(lw.wGate.subarray(j * dim, (j + 1) * dim));
        b.up(j).set(lw.wUp.subarray(j * dim, (j + 1) * dim));
        b.down(j).set(Array.from({ length: dim }, (_, d) => lw.wDown[d * hiddenDim + j]!));
      }
      return b;
    });
    expect(partial[0]!.slotOf[kept[0]![0]!]).not.toBe(kept[0]![0]); // slots are not neuron ids here
    const sparse = new Transformer({ config: model.config, weights: full.weights, ffn: partial }, { backend: "wasm" });
    const [a, b] = [full.newState(), sparse.newState()];
    kept.forEach((k, l) => {
      a.ffn[l] = compactOf(full.ffn[l]!, k);
      b.ffn[l] = compactOf(sparse.ffn[l]!, k);
    });
    for (const [pos, tok] of [1, 403, 407, 261].entries()) {
      expect(relErr(sparse.forward(b, tok, pos), full.forward(a, tok, pos))).toBeLessThan(1e-6);
    }
    // A neuron that is not resident is an error, never a wrong answer; so is a dense token.
    const missing = Array.from({ length: hiddenDim }, (_, j) => j).find((j) => !partial[0]!.has(j))!;
    expect(() => compactOf(partial[0]!, Int32Array.of(missing))).toThrow(NeuronNotResidentError);
    const dense = sparse.newState();
    expect(() => sparse.forward(dense, 1, 0)).toThrow(/dense FFN needs all/);
  });

  it("drop frees a slot for another neuron; a full layout refuses one more", () => {
    const b = new FfnBundles(4, 10, 2);
    const s3 = b.put(3);
    b.put(5);
    expect(b.put(3)).toBe(s3); // already resident: same slot
    expect(() => b.put(7)).toThrow(/slots are in use/);
    b.drop(3);
    expect(b.has(3)).toBe(false);
    expect(b.put(7)).toBe(s3);
    expect(b.slotsFor(Int32Array.of(5, 7))).toEqual(Int32Array.of(b.slotOf[5]!, s3));
    expect(() => b.slotsFor(Int32Array.of(3))).toThrow(NeuronNotResidentError);
    expect(() => b.put(10)).toThrow(RangeError);
  });

  it("reserve grows the room in place: resident neurons keep their slots and weights, masks built before stay valid", () => {
    const b = new FfnBundles(4, 10, 2);
    b.put(3);
    b.gate(3).set([1, 2, 3, 4]);
    b.put(8);
    b.down(8).set([5, 6, 7, 8]);
    const f = compactOf(b, Int32Array.of(3, 8));
    const old = b.data;
    expect(b.reserve(2)).toBeNull(); // no growth asked: nothing moves
    expect(b.reserve(5)).toBe(old);
    expect([b.capacity, b.data.length, b.resident]).toEqual([5, 5 * 12, 2]);
    expect(Array.from(b.gate(3))).toEqual([1, 2, 3, 4]);
    expect(Array.from(b.down(8))).toEqual([5, 6, 7, 8]);
    expect(b.slotsFor(f.kept)).toEqual(f.slots);
    for (const j of [0, 1, 2]) b.put(j); // three new slots, no more
    expect(() => b.put(4)).toThrow(/slots are in use/);
    expect(b.reserve(99)).not.toBeNull();
    expect(b.capacity).toBe(10); // never more than the layer's neurons
  });
});
