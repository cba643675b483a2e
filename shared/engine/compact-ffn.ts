// A layer's FFN restricted to its kept neurons, packed so the kept work is
// contiguous: gate and up rows of each kept neuron, and its down_proj column
// stored as a row ("row-column bundling"), the same unit a weight shard holds.
import type { LayerWeights } from "../model/weights.ts";

export interface CompactFfn {
  /** Kept neuron indices, ascending. */
  kept: Int32Array;
  gate: Float32Array; // k x dim
  up: Float32Array; // k x dim
  /** Column j of W_down for each kept neuron j, contiguous: k x dim. */
  downT: Float32Array;
  /**
   * Optional constant added to the FFN output: the pruned neurons' expected contribution
   * (sum over pruned j of E[a_j] W_down[:, j]), so pruning removes their fluctuation only.
   */
  bias?: Float32Array | null;
}

const TILE = 16;

/** Gathers the kept neurons' weights from a dense layer. */
export function compactFromDense(layer: LayerWeights, dim: number, hiddenDim: number, kept: Int32Array): CompactFfn {
  const k = kept.length;
  const gate = new Float32Array(k * dim);
  const up = new Float32Array(k * dim);
  const downT = new Float32Array(k * dim);
  for (let i = 0; i < k; i++) {
    const j = kept[i]!;
    if (!(j >= 0 && j < hiddenDim)) throw new RangeError(`kept neuron ${j} out of range 0..${hiddenDim - 1}`);
    gate.set(layer.wGate.subarray(j * dim, (j + 1) * dim), i * dim);
    up.set(layer.wUp.subarray(j * dim, (j + 1) * dim), i * dim);
  }
  // W_down's columns are strided by hiddenDim: gather them in tiles of TILE rows so each
  // cache line read from W_down serves the neighbouring kept neurons too.
  const wd = layer.wDown;
  for (let d0 = 0; d0 < dim; d0 += TILE) {
    const d1 = Math.min(dim, d0 + TILE);
    for (let i = 0; i < k; i++) {
      const j = kept[i]!;
      const o = i * dim;
      for (let d = d0; d < d1; d++) downT[o + d] = wd[d * hiddenDim + j]!;
    }
  }
  return { kept: Int32Array.from(kept), gate, up, downT };
}

/** Sorted indices of the true entries of a 0/1 mask. */
export function keptFromMask(mask: Uint8Array): Int32Array {
  let k = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) k++;
  const kept = new Int32Array(k);
  for (let i = 0, o = 0; i < mask.length; i++) if (mask[i]) kept[o++] = i;
  return kept;
}
