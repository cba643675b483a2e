// Q8_0 in the weight store (dtype "q8_0"): the bytes of a q8_0 FFN shard and of a q8_0 base
// matrix. Values come from and go to the engine's Q8_0 memory (../model/q8.ts) as they are:
// nothing is dequantized or re-quantized on the way.
//
// Layout: every int8 first, then every block scale as an f16 (little-endian). That is the
// split the engine's Q8_0 memory has (a Q8Matrix: q, then d; FfnBundles "q8_0": per slot
// 3*dim int8s, then per slot 3*dim/32 scales), so a node adopts a neuron with one copy of its
// 3*dim int8s into its slot and one short loop widening its 3*dim/32 scales to f32 (exact).
// GGUF's interleaved blocks ([f16 d | 32 q] each) would cost a copy per block of 32 instead.
// Scales stay f16, as in GGUF (the quantizer rounds them to f16 anyway): 34 bytes per 32
// weights, 3.76x fewer than f32.
//
// A shard of `count` neurons, neuron-major in each region (its slot's layout in FfnBundles):
//   int8s:  [n0: gate | up | down] [n1: gate | up | down] ...   count x 3*dim bytes
//   scales: [n0: gate | up | down] [n1: ...] ...                count x 3*dim/32 f16
import { f16ToF32, f32ToF16 } from "../model/dtypes.ts";
import { allocQ8, QK, type Q8Matrix } from "../model/q8.ts";
import type { FfnBundles } from "../engine/ffn-bundles.ts";

/** Bytes of a q8_0 shard of `count` neurons. */
export function q8ShardBytes(dim: number, count: number): number {
  const n = 3 * dim * count;
  return n + (n / QK) * 2;
}

/** The shard of `neurons` (in that order) from Q8_0 bundles that hold them. */
export function encodeQ8Shard(b: FfnBundles, neurons: ArrayLike<number>): Uint8Array {
  const per = 3 * b.dim;
  const count = neurons.length;
  const out = new Uint8Array(q8ShardBytes(b.dim, count));
  const dv = new DataView(out.buffer);
  const { q, d } = b.q8;
  for (let i = 0; i < count; i++) {
    const s = b.slotOf[neurons[i]!]!;
    if (!(s >= 0)) throw new RangeError(`neuron ${neurons[i]} is not in these bundles`);
    out.set(new Uint8Array(q.buffer, q.byteOffset + s * per, per), i * per);
    const scales = count * per + (i * per) / QK * 2;
    for (let k = 0; k < per / QK; k++) dv.setUint16(scales + k * 2, f32ToF16(d[(s * per) / QK + k]!), true);
  }
  return out;
}

/** Neuron `i` of a q8_0 shard of `count` neurons into `b`'s slot for neuron `j` (claimed with put). */
export function adoptQ8Neuron(bytes: Uint8Array, count: number, i: number, b: FfnBundles, j: number): void {
  if (b.format !== "q8_0") throw new TypeError("a q8_0 shard goes into Q8_0 FFN bundles (serve it with the q8_0 weight format)");
  const per = 3 * b.dim;
  const s = b.put(j);
  const { q, d } = b.q8;
  q.set(new Int8Array(bytes.buffer, bytes.byteOffset + i * per, per), s * per);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + count * per + (i * per) / QK * 2, (per / QK) * 2);
  const o = (s * per) / QK;
  for (let k = 0; k < per / QK; k++) d[o + k] = f16ToF32(dv.getUint16(k * 2, true));
}

/** A Q8_0 matrix as base-blob bytes: its int8s, then its scales as f16. */
export function encodeQ8Matrix(m: Q8Matrix, out: Uint8Array, offset: number): void {
  const n = m.rows * m.cols;
  out.set(new Uint8Array(m.q.buffer, m.q.byteOffset, n), offset);
  const dv = new DataView(out.buffer, out.byteOffset + offset + n, (n / QK) * 2);
  for (let k = 0; k < n / QK; k++) dv.setUint16(k * 2, f32ToF16(m.d[k]!), true);
}

/** A rows x cols Q8_0 matrix from base-blob bytes at `offset` (the layout encodeQ8Matrix writes). */
export function decodeQ8Matrix(bytes: Uint8Array, offset: number, rows: number, cols: number, alloc?: (n: number) => Float32Array): Q8Matrix {
  const m = allocQ8(rows, cols, alloc);
  const n = rows * cols;
  m.q.set(new Int8Array(bytes.buffer, bytes.byteOffset + offset, n));
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset + n, (n / QK) * 2);
  for (let k = 0; k < n / QK; k++) m.d[k] = f16ToF32(dv.getUint16(k * 2, true));
  return m;
}
