// A layer's FFN restricted to its kept neurons: an index list into the layer's
// neuron-major bundles (ffn-bundles.ts). Building one copies no weights.
import type { LayerWeights } from "../model/weights.ts";
import { FfnBundles } from "./ffn-bundles.ts";

export interface CompactFfn {
  /** Kept neuron indices, ascending. */
  kept: Int32Array;
  /** The kept neurons' slots in `bundles`, in the order of `kept`. */
  slots: Int32Array;
  /** Where the weights live (the layer's resident bundles). */
  bundles: FfnBundles;
  /**
   * Optional constant added to the FFN output: the pruned neurons' expected contribution
   * (sum over pruned j of E[a_j] W_down[:, j]), so pruning removes their fluctuation only.
   */
  bias?: Float32Array | null;
}

/** The compacted FFN of `kept` (ascending, resident) over a layer's bundles: an index list, no copy. */
export function compactOf(bundles: FfnBundles, kept: Int32Array, bias: Float32Array | null = null): CompactFfn {
  for (let i = 1; i < kept.length; i++) if (kept[i]! <= kept[i - 1]!) throw new RangeError("kept neurons must be strictly ascending");
  return { kept: Int32Array.from(kept), slots: bundles.slotsFor(kept), bundles, bias };
}

/**
 * A compacted FFN holding its own copy of just the kept neurons, gathered from dense
 * row-major matrices: the independent reference the tests compare against.
 */
export function compactFromDense(layer: LayerWeights, dim: number, hiddenDim: number, kept: Int32Array): CompactFfn {
  const b = new FfnBundles(dim, hiddenDim, kept.length);
  for (const j of kept) {
    if (!(j >= 0 && j < hiddenDim)) throw new RangeError(`kept neuron ${j} out of range 0..${hiddenDim - 1}`);
    b.put(j);
    b.gate(j).set(layer.wGate.subarray(j * dim, (j + 1) * dim));
    b.up(j).set(layer.wUp.subarray(j * dim, (j + 1) * dim));
    const down = b.down(j);
    for (let d = 0; d < dim; d++) down[d] = layer.wDown[d * hiddenDim + j]!;
  }
  return compactOf(b, kept);
}

/** The kept neurons' weights packed k x dim each (gate rows, up rows, down columns): for comparisons and digests. */
export function packedWeights(f: CompactFfn): { gate: Float32Array; up: Float32Array; downT: Float32Array } {
  const dim = f.bundles.dim;
  const k = f.kept.length;
  const out = { gate: new Float32Array(k * dim), up: new Float32Array(k * dim), downT: new Float32Array(k * dim) };
  f.kept.forEach((j, i) => {
    out.gate.set(f.bundles.gate(j), i * dim);
    out.up.set(f.bundles.up(j), i * dim);
    out.downT.set(f.bundles.down(j), i * dim);
  });
  return out;
}

/** Sorted indices of the true entries of a 0/1 mask. */
export function keptFromMask(mask: Uint8Array): Int32Array {
  let k = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) k++;
  const kept = new Int32Array(k);
  for (let i = 0, o = 0; i < mask.length; i++) if (mask[i]) kept[o++] = i;
  return kept;
}
