// Overlap routing: which sparse node a split turn decodes on, from the turn's kept neurons
// (read from a real pruner state) and each node's resident neurons; rendezvous hashing when
// nothing is known.
import { describe, expect, it } from "vitest";
import { createPruner, DEFAULT_DART_SETTINGS } from "../../shared/dart/index.ts";
import type { MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import { keptNeuronsOfState } from "../../shared/dart/state-masks.ts";
import { countBits, countMissing, packFlags } from "../../shared/serving/neuron-bits.ts";
import { rankByOverlap, type NodeResidencyView } from "../../shared/serving/overlap-routing.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";
import { stories } from "../helpers/model-dir.ts";

const A = "http://a", B = "http://b", C = "http://c";
/** A session key whose rendezvous order starts with `first`. */
const keyPreferring = (first: string, nodes = [A, B]) => {
  for (let i = 0; ; i++) if (rankNodes(nodes, `s${i}`)[0] === first) return `s${i}`;
};
const bits = (n: number, set: number[]) => packFlags(Uint8Array.from({ length: n }, (_, i) => (set.includes(i) ? 1 : 0)));
const view = (b: Uint8Array, load = 0): NodeResidencyView => ({ bits: b, load });

describe("neuron bitsets", () => {
  it("count the neurons one set needs and the other lacks", () => {
    const need = bits(20, [0, 3, 9, 17, 19]);
    expect(countBits(need)).toBe(5);
    expect(countMissing(need, bits(20, [3, 17]))).toBe(3);
    expect(countMissing(need, bits(20, [0, 3, 9, 17, 19, 5]))).toBe(0);
    expect(() => countMissing(need, bits(40, []))).toThrow(RangeError);
  });
});

describe("rankByOverlap", () => {
  const need = bits(64, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  it("prefers the node that holds the masks' neurons over the session's rendezvous choice", () => {
    const sessionKey = keyPreferring(B);
    const r = rankByOverlap({ nodes: [A, B], sessionKey, need, residency: new Map([[A, view(bits(64, [1, 2, 3, 4, 5, 6, 7, 8, 9]))], [B, view(bits(64, [1]))]]), neededNeurons: 10 });
    expect(r).toEqual({ order: [A, B], policy: "overlap", missingNeurons: 1 });
  });

  it("breaks near-ties by the session's last node (its KV cache), then by load", () => {
    const sessionKey = keyPreferring(A);
    const residency = new Map([[A, view(bits(64, [1, 2, 3, 4, 5]), 3)], [B, view(bits(64, [1, 2, 3, 4, 5, 6]), 0)]]);
    // One neuron apart with a tie margin of 2: B is the session's last node.
    expect(rankByOverlap({ nodes: [A, B], sessionKey, need, residency, lastNode: A, tieNeurons: 2 }).order).toEqual([A, B]);
    // No last node: the less loaded one.
    expect(rankByOverlap({ nodes: [A, B], sessionKey, need, residency, tieNeurons: 2 }).order).toEqual([B, A]);
    // No tie margin: fewest missing wins whatever the last node.
    expect(rankByOverlap({ nodes: [A, B], sessionKey, need, residency, lastNode: A, tieNeurons: 0 }).order).toEqual([B, A]);
  });

  it("sends no turn to a node far busier than another, however much it holds", () => {
    const residency = new Map([[A, view(need, 9)], [B, view(bits(64, []), 1)]]);
    expect(rankByOverlap({ nodes: [A, B], sessionKey: keyPreferring(A), need, residency, loadGap: 4 }).order).toEqual([B, A]);
    expect(rankByOverlap({ nodes: [A, B], sessionKey: keyPreferring(B), need, residency, loadGap: 8 }).order).toEqual([A, B]);
  });

  it("falls back to rendezvous hashing with nothing known, and ranks unknown nodes after known ones", () => {
    const nodes = [A, B, C];
    const sessionKey = keyPreferring(C, nodes);
    expect(rankByOverlap({ nodes, sessionKey, need: null, residency: new Map([[A, view(need)]]) })).toEqual({ order: rankNodes(nodes, sessionKey), policy: "rendezvous" });
    expect(rankByOverlap({ nodes, sessionKey, need, residency: new Map() })).toEqual({ order: rankNodes(nodes, sessionKey), policy: "rendezvous" });
    const r = rankByOverlap({ nodes, sessionKey, need, residency: new Map([[B, view(bits(64, []))]]) });
    expect(r.order[0]).toBe(B);
    expect(r.order.slice(1)).toEqual(rankNodes(nodes, sessionKey).filter((n) => n !== B));
    // A bitset of another model's shape counts as unknown.
    expect(rankByOverlap({ nodes: [A, B], sessionKey, need, residency: new Map([[A, view(bits(128, []))]]) }).policy).toBe("rendezvous");
  });
});

describe("keptNeuronsOfState", () => {
  const { tf } = stories("bin");
  const { nLayers: L, hiddenDim: H } = tf.config;
  it("reads a pruner state's masks as a bitset, dense layers as every neuron", () => {
    const p = createPruner(tf, tf.newState(), { ...DEFAULT_DART_SETTINGS, method: "dart", sparsity: 0.5 }) as MaskingPruner;
    expect(keptNeuronsOfState(p.serialize())).toBeNull(); // no mask yet
    const masks = Array.from({ length: L }, (_, l) => (l === 1 ? null : Int32Array.from({ length: 10 }, (_, i) => (i * 7 + l) % H)));
    p.setMasks(masks);
    const k = keptNeuronsOfState(p.serialize())!;
    expect(k).toMatchObject({ nLayers: L, hiddenDim: H, count: (L - 1) * 10 + H });
    const flags = new Uint8Array(L * H);
    masks.forEach((m, l) => (m ? m.forEach((j) => (flags[l * H + j] = 1)) : flags.fill(1, l * H, (l + 1) * H)));
    expect(k.bits).toEqual(packFlags(flags));
    expect(keptNeuronsOfState(new Uint8Array([1, 2, 3]))).toBeNull();
  });
});
