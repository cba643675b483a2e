// The neurons a pruner state's masks keep, read from the state blob without building a
// pruner (no model needed): what the Session object compares with each sparse node's
// resident neurons to choose where a split turn decodes (shared/serving/overlap-routing.ts).
import { packFlags } from "../serving/neuron-bits.ts";
import { decodeState, StateFormatError } from "./state-codec.ts";

export interface KeptNeurons {
  nLayers: number;
  hiddenDim: number;
  /** Packed bitset, layer-major (shared/serving/neuron-bits.ts); a dense layer keeps every neuron. */
  bits: Uint8Array;
  /** Neurons kept over all layers. */
  count: number;
}

/** The masks in force in a version-2 state, or null when it has none yet (or is not such a state). */
export function keptNeuronsOfState(bytes: Uint8Array): KeptNeurons | null {
  let decoded;
  try {
    decoded = decodeState<{ shape?: number[]; fullLayers?: boolean[] }>(bytes);
  } catch (e) {
    if (e instanceof StateFormatError) return null;
    throw e;
  }
  const { header: h, arrays: a } = decoded;
  const [nLayers, hiddenDim] = h.shape ?? [];
  const flags = a.keptBits;
  if (!flags || !nLayers || !hiddenDim || flags.length !== nLayers * hiddenDim) return null;
  if (h.fullLayers?.every(Boolean)) return null; // no mask built yet
  const all = new Uint8Array(flags.length);
  all.set(flags as Uint8Array);
  // A layer without a mask yet (mode "full") runs dense: every neuron is needed.
  h.fullLayers?.forEach((dense, l) => dense && all.fill(1, l * hiddenDim, (l + 1) * hiddenDim));
  let count = 0;
  for (let i = 0; i < all.length; i++) count += all[i]!;
  if (count === 0) return null;
  return { nLayers, hiddenDim, bits: packFlags(all), count };
}
