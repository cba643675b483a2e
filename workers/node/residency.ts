// A sparse node's resident FFN neurons as one packed bitset (shared/serving/neuron-bits.ts),
// in neuron order whatever order the shards are stored in, for GET /v1/residency: the
// Session objects compare it with a turn's masks to choose the node that fetches least.
import { packFlags } from "../../shared/serving/neuron-bits.ts";
import type { WeightStore } from "../../shared/weights/store.ts";

export function residentNeuronBits(store: WeightStore, nLayers: number, hiddenDim: number): Uint8Array {
  const flags = new Uint8Array(nLayers * hiddenDim);
  for (let layer = 0; layer < nLayers; layer++) {
    const held = new Map<number, boolean>();
    for (let j = 0; j < hiddenDim; j++) {
      const index = store.shardOf(layer, j);
      let h = held.get(index);
      if (h === undefined) held.set(index, (h = store.isResident({ layer, index })));
      if (h) flags[layer * hiddenDim + j] = 1;
    }
  }
  return packFlags(flags);
}

/** A strong ETag for a bitset (FNV-1a over its bytes and its length). */
export function bitsEtag(bits: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bits.length; i++) h = Math.imul(h ^ bits[i]!, 0x01000193);
  return `"${(h >>> 0).toString(16)}-${bits.length.toString(16)}"`;
}
