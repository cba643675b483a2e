// A layer's SwiGLU FFN held neuron-major: per neuron one bundle of 3 x dim floats,
// its gate row, its up row and its down_proj column (stored as a row), contiguous.
// This is the unit a weight shard holds, and the one copy of the FFN weights the
// engine keeps: the dense FFN runs over every slot, a compacted FFN (a DART mask)
// over an index list of kept slots, so a re-mask is a new list and never a gather.
//
// Partial residency (a sparse node that holds only its masks' shards):
//   const b = new FfnBundles(dim, hiddenDim, capacity, backend.alloc)  // room for `capacity` neurons
//   const slot = b.put(neuron)                 // claims a slot (or returns the neuron's current one)
//   b.gate(neuron).set(row); b.up(neuron).set(row); b.down(neuron).set(column)  // fill it (e.g. from shard bytes)
//   b.drop(neuron)                             // frees the slot for another neuron
//   compactOf(b, kept, bias)                   // (compact-ffn.ts) a mask over resident neurons
// `slotOf[neuron]` is the neuron -> slot map (-1: not resident). A Transformer built with
// `ffn: [b, ...]` runs masks over what is resident; a dense token needs every neuron.
//
// Format "q8_0" (--weights q8_0) holds the same bundles in Q8_0 (../model/q8.ts): `data` is
// then the backing memory of `q8.q` (per slot 3*dim int8s: gate, up, down) followed by
// `q8.d` (per slot 3*dim/32 block scales), and the float views gate()/up()/down() give way
// to rowQ8() / setRow().
import { QK, quantizeInto } from "../model/q8.ts";
import type { LayerWeights } from "../model/weights.ts";

export type BundleFormat = "f32" | "q8_0";

export class NeuronNotResidentError extends Error {
  constructor(neuron: number) {
    super(`FFN neuron ${neuron} is not resident on this node`);
    this.name = "NeuronNotResidentError";
  }
}

export class FfnBundles {
  readonly dim: number;
  readonly hiddenDim: number;
  readonly format: BundleFormat;
  /** Slots: neurons this layout can hold at once (reserve() raises it). */
  capacity: number;
  /** capacity x 3*dim floats: per slot [gate row | up row | down column] (q8_0: see q8). The backend may rebind it (WASM memory). */
  data: Float32Array;
  private q8View: { data: Float32Array; q: Int8Array; d: Float32Array } | null = null;
  /** Neuron -> slot, -1 when the neuron is not resident. */
  readonly slotOf: Int32Array;
  /** Slot -> neuron, -1 when the slot is free. */
  neuronAt: Int32Array;
  private readonly free: number[] = [];
  private count = 0;
  private all: Int32Array | null = null;

  /** `alloc` gives the memory (the backend's, so kernels read bundles in place). */
  constructor(dim: number, hiddenDim: number, capacity = hiddenDim, alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
    format: BundleFormat = "f32") {
    if (!(capacity >= 0 && capacity <= hiddenDim)) throw new RangeError(`capacity ${capacity} out of range 0..${hiddenDim}`);
    if (format === "q8_0" && dim % QK !== 0) throw new RangeError(`Q8_0 bundles need dim a multiple of ${QK}, got ${dim}`);
    this.dim = dim;
    this.hiddenDim = hiddenDim;
    this.capacity = capacity;
    this.format = format;
    // q8_0: capacity*3*dim int8s (a multiple of 4 bytes since dim is of 32) then capacity*3*dim/32 scales.
    this.data = alloc(this.floatsFor(capacity));
    this.slotOf = new Int32Array(hiddenDim).fill(-1);
    this.neuronAt = new Int32Array(capacity).fill(-1);
    for (let s = capacity - 1; s >= 0; s--) this.free.push(s);
  }

  /** Every neuron of a dense layer, slot j = neuron j (row-major W_gate, W_up: hidden x dim; W_down: dim x hidden). */
  static fromDense(layer: Pick<LayerWeights, "wGate" | "wUp" | "wDown">, dim: number, hiddenDim: number,
    alloc?: (n: number) => Float32Array, format: BundleFormat = "f32"): FfnBundles {
    if (format === "q8_0") return FfnBundles.q8FromDense(layer, dim, hiddenDim, alloc);
    const b = new FfnBundles(dim, hiddenDim, hiddenDim, alloc);
    const m = b.data;
    const wd = layer.wDown;
    for (let j = 0; j < hiddenDim; j++) {
      const o = b.put(j) * 3 * dim;
      m.set(layer.wGate.subarray(j * dim, (j + 1) * dim), o);
      m.set(layer.wUp.subarray(j * dim, (j + 1) * dim), o + dim);
    }
    // W_down's columns are strided by hiddenDim: walk W_down row by row (contiguous reads).
    for (let d = 0; d < dim; d++) {
      const row = d * hiddenDim;
      for (let j = 0, o = 2 * dim + d; j < hiddenDim; j++, o += 3 * dim) m[o] = wd[row + j]!;
    }
    return b;
  }

  /** Floats of `data` for `capacity` slots. */
  private floatsFor(capacity: number): number {
    const n = capacity * 3 * this.dim;
    return this.format === "f32" ? n : n / 4 + n / QK;
  }

  /** fromDense in Q8_0: each gate row, up row and down column quantized in blocks of 32 along dim. */
  private static q8FromDense(layer: Pick<LayerWeights, "wGate" | "wUp" | "wDown">, dim: number, hiddenDim: number,
    alloc?: (n: number) => Float32Array): FfnBundles {
    const b = new FfnBundles(dim, hiddenDim, hiddenDim, alloc, "q8_0");
    const col = new Float32Array(dim);
    for (let j = 0; j < hiddenDim; j++) {
      b.put(j);
      b.setRow(j, 0, layer.wGate.subarray(j * dim, (j + 1) * dim));
      b.setRow(j, 1, layer.wUp.subarray(j * dim, (j + 1) * dim));
      for (let d = 0; d < dim; d++) col[d] = layer.wDown[d * hiddenDim + j]!;
      b.setRow(j, 2, col);
    }
    return b;
  }

  /** The q8_0 int8s and block scales, views of `data` (rebuilt when the backend rebinds it). */
  get q8(): { q: Int8Array; d: Float32Array } {
    if (this.format !== "q8_0") throw new TypeError("these FFN bundles are fp32");
    const v = this.q8View;
    if (v && v.data === this.data) return v;
    const m = this.data;
    const n = this.capacity * 3 * this.dim;
    const view = { data: m, q: new Int8Array(m.buffer, m.byteOffset, n), d: new Float32Array(m.buffer, m.byteOffset + n, n / QK) };
    this.q8View = view;
    return view;
  }

  /** Part `part` (0 gate, 1 up, 2 down) of the neuron's bundle set from fp32 values (quantized for q8_0). */
  setRow(neuron: number, part: 0 | 1 | 2, values: ArrayLike<number>): void {
    const s = this.slotOf[neuron] ?? -1;
    if (s < 0) throw new NeuronNotResidentError(neuron);
    const o = (3 * s + part) * this.dim;
    if (this.format === "f32") {
      for (let i = 0; i < this.dim; i++) this.data[o + i] = values[i]!;
      return;
    }
    const { q, d } = this.q8;
    quantizeInto(values, 0, this.dim, q, o, d, o / QK);
  }

  /** Part `part` of the neuron's bundle as Q8_0 views: dim int8s and dim/32 scales (writes go into the bundle). */
  rowQ8(neuron: number, part: 0 | 1 | 2): { q: Int8Array; d: Float32Array } {
    const s = this.slotOf[neuron] ?? -1;
    if (s < 0) throw new NeuronNotResidentError(neuron);
    const o = (3 * s + part) * this.dim;
    const { q, d } = this.q8;
    return { q: q.subarray(o, o + this.dim), d: d.subarray(o / QK, (o + this.dim) / QK) };
  }

  /** Part `part` of the neuron's bundle as fp32 values (a copy for q8_0). */
  rowValues(neuron: number, part: 0 | 1 | 2): Float32Array {
    if (this.format === "f32") return this.view(neuron, part).slice();
    const { q, d } = this.rowQ8(neuron, part);
    return Float32Array.from(q, (v, i) => v * d[(i / QK) | 0]!);
  }

  /**
   * Room for at least `capacity` neurons: the weights move to a larger array from `alloc`,
   * every resident neuron keeps its slot (CompactFfns built over these bundles stay valid).
   * Returns the old array for the caller to give back to its allocator, or null when nothing moved.
   */
  reserve(capacity: number, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): Float32Array | null {
    const want = Math.min(this.hiddenDim, capacity);
    if (want <= this.capacity) return null;
    const old = this.data;
    const data = alloc(this.floatsFor(want));
    if (this.format === "f32") data.set(old.subarray(0, this.capacity * 3 * this.dim));
    else {
      // q8_0: the int8s, then the scales, each part moved to its place in the larger layout.
      const n = this.capacity * 3 * this.dim;
      const { q, d } = this.q8;
      new Int8Array(data.buffer, data.byteOffset, n).set(q);
      new Float32Array(data.buffer, data.byteOffset + want * 3 * this.dim, n / QK).set(d);
    }
    const neuronAt = new Int32Array(want).fill(-1);
    neuronAt.set(this.neuronAt);
    // New slots are taken after the freed ones, lowest first.
    for (let s = this.capacity; s < want; s++) this.free.unshift(s);
    this.data = data;
    this.neuronAt = neuronAt;
    this.capacity = want;
    return old;
  }

  /** Neurons resident now. */
  get resident(): number {
    return this.count;
  }

  get full(): boolean {
    return this.count === this.hiddenDim;
  }

  has(neuron: number): boolean {
    return this.slotOf[neuron] !== undefined && this.slotOf[neuron]! >= 0;
  }

  /** The neuron's slot, claiming a free one when it is not resident yet (its contents are then stale: fill them). */
  put(neuron: number): number {
    if (!(neuron >= 0 && neuron < this.hiddenDim)) throw new RangeError(`neuron ${neuron} out of range 0..${this.hiddenDim - 1}`);
    const cur = this.slotOf[neuron]!;
    if (cur >= 0) return cur;
    const s = this.free.pop();
    if (s === undefined) throw new RangeError(`all ${this.capacity} FFN slots are in use: drop a neuron first`);
    this.slotOf[neuron] = s;
    this.neuronAt[s] = neuron;
    this.count++;
    this.all = null;
    return s;
  }

  /** Frees the neuron's slot (its weights are no longer resident). */
  drop(neuron: number): void {
    const s = this.slotOf[neuron] ?? -1;
    if (s < 0) return;
    this.slotOf[neuron] = -1;
    this.neuronAt[s] = -1;
    this.free.push(s);
    this.count--;
    this.all = null;
  }

  private view(neuron: number, part: number): Float32Array {
    if (this.format !== "f32") throw new TypeError("Q8_0 FFN bundles have no fp32 views: use rowQ8(), rowValues() or setRow()");
    const s = this.slotOf[neuron] ?? -1;
    if (s < 0) throw new NeuronNotResidentError(neuron);
    const o = (3 * s + part) * this.dim;
    return this.data.subarray(o, o + this.dim);
  }

  /** The neuron's gate row (a view: writes go into the bundle). */
  gate(neuron: number): Float32Array {
    return this.view(neuron, 0);
  }

  up(neuron: number): Float32Array {
    return this.view(neuron, 1);
  }

  /** Column `neuron` of W_down. */
  down(neuron: number): Float32Array {
    return this.view(neuron, 2);
  }

  /** Slots of the given neurons, in their order; a neuron that is not resident is an error. */
  slotsFor(neurons: Int32Array): Int32Array {
    const out = new Int32Array(neurons.length);
    for (let i = 0; i < neurons.length; i++) {
      const j = neurons[i]!;
      const s = this.slotOf[j] ?? -1;
      if (s < 0) {
        if (!(j >= 0 && j < this.hiddenDim)) throw new RangeError(`kept neuron ${j} out of range 0..${this.hiddenDim - 1}`);
        throw new NeuronNotResidentError(j);
      }
      out[i] = s;
    }
    return out;
  }

  /** Slots of every neuron in neuron order: what a dense token runs. Needs the whole layer resident. */
  allSlots(): Int32Array {
    if (this.all) return this.all;
    if (!this.full) throw new RangeError(`a dense FFN needs all ${this.hiddenDim} neurons resident; ${this.count} are`);
    return (this.all = this.slotOf.slice());
  }
}
