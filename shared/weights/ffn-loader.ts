// Delta loading: given the kept neurons per layer of a new mask, fetch only the
// shards not yet resident and rebuild each layer's CompactFfn from shard bytes.
import { compactOf, type CompactFfn } from "../engine/compact-ffn.ts";
import { FfnBundles } from "../engine/ffn-bundles.ts";
import { bytesFor, decodeInto } from "./dtype-codec.ts";
import { adoptQ8Neuron } from "./q8-codec.ts";
import { WeightStoreError } from "./source.ts";
import type { ShardId, WeightStore } from "./store.ts";

export interface DeltaReport {
  /** Shards the new mask needs, over all layers. */
  shardsNeeded: number;
  bytesNeeded: number;
  /** Of those, what had to come from the source (not resident). */
  shardsFetched: number;
  bytesFetched: number;
  /** Layers whose kept set changed (and whose CompactFfn was rebuilt). */
  layersRebuilt: number;
}

/** Distinct shard indices holding the kept neurons, ascending; `slots` maps neuron -> slot (identity if absent). */
export function shardsForKept(kept: Int32Array, neuronsPerShard: number, slots?: Int32Array): number[] {
  const out = new Set<number>();
  for (const j of kept) out.add(Math.floor((slots ? slots[j]! : j) / neuronsPerShard));
  return [...out].sort((a, b) => a - b);
}

function sameKept(a: Int32Array, b: Int32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function checkKept(kept: Int32Array, hiddenDim: number): void {
  for (let i = 0; i < kept.length; i++) {
    const j = kept[i]!;
    if (!(j >= 0 && j < hiddenDim)) throw new RangeError(`kept neuron ${j} out of range 0..${hiddenDim - 1}`);
    if (i > 0 && j <= kept[i - 1]!) throw new RangeError("kept neurons must be strictly ascending");
  }
}

export class FfnDeltaLoader {
  readonly store: WeightStore;
  /** The CompactFfn last built per layer (reused while a layer's kept set is unchanged). */
  private current: (CompactFfn | null)[];

  constructor(store: WeightStore) {
    this.store = store;
    this.current = new Array(store.manifest.config.nLayers).fill(null);
  }

  /** Every neuron of a layer: what a dense (tracing) token needs. */
  allNeurons(): Int32Array {
    return Int32Array.from({ length: this.store.manifest.config.hiddenDim }, (_, i) => i);
  }

  /**
   * Installs a new mask: `kept[l]` ascending neuron indices of layer l (null: all
   * neurons). Returns the CompactFfn per layer and what the change cost.
   */
  async load(kept: (Int32Array | null)[]): Promise<{ ffn: CompactFfn[]; report: DeltaReport }> {
    const { config, neuronsPerShard } = this.store.manifest;
    if (kept.length !== config.nLayers) throw new RangeError(`mask has ${kept.length} layers, the model ${config.nLayers}`);
    const sets = kept.map((k) => k ?? this.allNeurons());
    sets.forEach((k) => checkKept(k, config.hiddenDim));

    const ids: ShardId[] = [];
    let bytesNeeded = 0;
    let alreadyResident = 0;
    let residentBytes = 0;
    sets.forEach((k, layer) => {
      for (const index of shardsForKept(k, neuronsPerShard, this.store.slots[layer])) {
        const id = { layer, index };
        ids.push(id);
        const b = this.store.shardRef(id).bytes;
        bytesNeeded += b;
        if (this.store.isResident(id)) {
          alreadyResident++;
          residentBytes += b;
        }
      }
    });
    const shardBytes = await this.store.ensure(ids);
    const byId = new Map<string, Uint8Array>();
    ids.forEach((id, i) => byId.set(`${id.layer}/${id.index}`, shardBytes[i]!));

    let layersRebuilt = 0;
    const ffn = sets.map((k, layer) => {
      const prev = this.current[layer];
      if (prev && sameKept(prev.kept, k)) return prev;
      layersRebuilt++;
      return (this.current[layer] = this.assemble(layer, k, (index) => byId.get(`${layer}/${index}`)!));
    });
    return {
      ffn,
      report: {
        shardsNeeded: ids.length,
        bytesNeeded,
        shardsFetched: ids.length - alreadyResident,
        bytesFetched: bytesNeeded - residentBytes,
        layersRebuilt,
      },
    };
  }

  /**
   * Synchronously builds layer `layer`'s CompactFfn for `kept` from shards that are already
   * resident (a pruner's FFN builder, called mid-generation); a shard that is not resident
   * is an error, never a fetch. Bit-exact with compactFromDense. Does not touch the cache
   * of load().
   */
  buildResident(layer: number, kept: Int32Array): CompactFfn {
    const { config, neuronsPerShard } = this.store.manifest;
    checkKept(kept, config.hiddenDim);
    const bytes = new Map<number, Uint8Array>();
    for (const index of shardsForKept(kept, neuronsPerShard, this.store.slots[layer])) {
      const b = this.store.residentShard({ layer, index });
      if (!b) throw new WeightStoreError(`shard ${index} of layer ${layer} is not resident: ensure the turn's shards before generating`);
      bytes.set(index, b);
    }
    return this.assemble(layer, kept, (index) => bytes.get(index)!);
  }

  /** Bundles holding just the kept neurons (gate row, up row, down column each), decoded from their shards. */
  private assemble(layer: number, kept: Int32Array, shard: (index: number) => Uint8Array): CompactFfn {
    const { config } = this.store.manifest;
    const b = new FfnBundles(config.dim, config.hiddenDim, kept.length, undefined, this.store.manifest.dtype === "q8_0" ? "q8_0" : "f32");
    for (const j of kept) fillNeuron(this.store, layer, j, b, shard);
    return compactOf(b, kept);
  }
}

/**
 * Decodes neuron j of `layer` from its shard's bytes into a slot of `b` (claimed with put):
 * how a node fills partially resident bundles from the shards it holds. A q8_0 shard goes into
 * Q8_0 bundles as it is; a float shard into fp32 bundles, or into Q8_0 ones quantized row by
 * row with the quantizer --weights q8_0 uses at load (the same values as from the model file).
 */
export function fillNeuron(store: WeightStore, layer: number, j: number, b: FfnBundles, shard: (index: number) => Uint8Array): void {
  const { config, dtype, neuronsPerShard: n } = store.manifest;
  const dim = config.dim;
  const slot = store.slots[layer]![j]!;
  const s = Math.floor(slot / n);
  const bytes = shard(s);
  const count = store.shardRef({ layer, index: s }).count;
  if (dtype === "q8_0") return adoptQ8Neuron(bytes, count, slot - s * n, b, j);
  const row = bytesFor(dtype, (slot - s * n) * dim);
  const section = bytesFor(dtype, count * dim);
  if (b.format === "q8_0") {
    const v = new Float32Array(dim);
    b.put(j);
    for (const part of [0, 1, 2] as const) {
      decodeInto(bytes, part * section + row, dtype, dim, v, 0);
      b.setRow(j, part, v);
    }
    return;
  }
  const o = b.put(j) * 3 * dim;
  decodeInto(bytes, row, dtype, dim, b.data, o);
  decodeInto(bytes, section + row, dtype, dim, b.data, o + dim);
  decodeInto(bytes, 2 * section + row, dtype, dim, b.data, o + 2 * dim);
}
