// A node's FFN held once: the weight store decides which shards are resident (budget, LRU,
// counters) and this sink decodes each fetched shard straight into the Transformer's
// neuron-major FFN bundles (../engine/ffn-bundles.ts), one slot per neuron, and keeps no
// shard bytes. A mask is then an index list over resident neurons (compactOf): nothing is
// gathered or copied per turn. A sparse node's bundles start empty and fill with what its
// masks need; a full node's hold every neuron (loaded dense), and only a budget below the
// FFN ever drops some.
import { compactOf, type CompactFfn } from "../engine/compact-ffn.ts";
import type { BundleFormat } from "../engine/ffn-bundles.ts";
import { QK } from "../model/q8.ts";
import type { Transformer } from "../engine/transformer.ts";
import { fillNeuron } from "./ffn-loader.ts";
import type { ShardId, ShardSink, WeightStore } from "./store.ts";

/** Memory one neuron takes in FFN bundles: gate, up, down x dim as fp32, or as int8s plus their f32 block scales (q8_0). */
export function bundleBytesPerNeuron(format: BundleFormat, dim: number): number {
  return format === "q8_0" ? 3 * dim + ((3 * dim) / QK) * 4 : 3 * dim * 4;
}

export class ResidentFfn implements ShardSink {
  readonly store: WeightStore;
  private readonly tf: Transformer;

  /** Attaches to `store`: from now on its resident shards live in `tf`'s FFN bundles only. */
  constructor(store: WeightStore, tf: Transformer) {
    this.store = store;
    this.tf = tf;
    const held = new Set(store.attach(this).map((id) => `${id.layer}/${id.index}`));
    // A full node loaded every neuron; a budget below the FFN left only some shards resident in the store.
    tf.ffn.forEach((b, layer) => {
      for (let j = 0; j < b.hiddenDim; j++) if (b.has(j) && !held.has(`${layer}/${store.shardOf(layer, j)}`)) b.drop(j);
    });
  }

  /** Neurons of a shard (shards tile each layer's slots in order; see Manifest.neuronOrder). */
  private neurons(id: ShardId): number[] {
    const ref = this.store.shardRef(id);
    const order = this.store.manifest.neuronOrder?.[id.layer];
    return Array.from({ length: ref.count }, (_, i) => (order ? order[ref.first + i]! : ref.first + i));
  }

  admit(shards: { id: ShardId; bytes: Uint8Array }[]): void {
    const byLayer = new Map<number, { id: ShardId; bytes: Uint8Array }[]>();
    for (const s of shards) byLayer.set(s.id.layer, [...(byLayer.get(s.id.layer) ?? []), s]);
    for (const [layer, list] of byLayer) {
      const b = this.tf.ffn[layer]!;
      // Room for the whole layer, once: fresh memory whose pages the system commits only as slots
      // are written (slots fill lowest first, a dropped neuron's slot is reused first), so memory
      // follows the resident neurons. Growing step by step instead would strand every old array
      // in the backend's arena, which reuses a freed array only for one of the same size.
      if (b.capacity < b.hiddenDim) {
        const old = b.reserve(b.hiddenDim, (n) => this.tf.backend.alloc(n));
        if (old) this.tf.backend.free(old);
      }
      for (const s of list) for (const j of this.neurons(s.id)) fillNeuron(this.store, layer, j, b, () => s.bytes);
    }
  }

  evict(ids: ShardId[]): void {
    for (const id of ids) {
      const b = this.tf.ffn[id.layer]!;
      for (const j of this.neurons(id)) b.drop(j);
    }
  }

  /** The pruner's FFN builder: an index list over the resident neurons, no copy (a neuron not resident is an error). */
  build = (layer: number, kept: Int32Array): CompactFfn => compactOf(this.tf.ffn[layer]!, kept);

  /** Memory of one neuron in the engine's bundles (fp32 or Q8_0). */
  private get perNeuron(): number {
    return bundleBytesPerNeuron(this.tf.ffn[0]!.format, this.tf.config.dim);
  }

  /** FFN bytes held in memory now: resident neurons x bundleBytesPerNeuron. */
  get residentBytes(): number {
    return this.tf.ffn.reduce((n, b) => n + b.resident, 0) * this.perNeuron;
  }

  /** Address space reserved for FFN slots (a layer's whole room once it holds a neuron; pages are committed as slots fill). */
  get allocatedBytes(): number {
    return this.tf.ffn.reduce((n, b) => n + b.capacity, 0) * this.perNeuron;
  }

  /** The whole FFN in memory, in the engine's format. */
  get ffnBytes(): number {
    const c = this.tf.config;
    return c.nLayers * c.hiddenDim * this.perNeuron;
  }
}
