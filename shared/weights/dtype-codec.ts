// Element types a shard set stores, and their fp32 encoding/decoding.
// Float types are lossless round trips from the engine's fp32 copy of the model: f32 always,
// f16/bf16 when the model file was f16/bf16 (its fp32 values are exact images of them).
// "q8_0" holds Q8_0 (../model/q8.ts) as the engine's --weights q8_0 does, never decoded to
// floats on the way: see q8-codec.ts for its byte layout.
import { f16ToF32, f32ToF16 } from "../model/dtypes.ts";
import { QK } from "../model/q8.ts";

export const SHARD_DTYPES = ["f32", "f16", "bf16", "q8_0"] as const;
export type ShardDtype = (typeof SHARD_DTYPES)[number];
/** The float dtypes, which encodeInto / decodeInto handle value by value. */
export type FloatDtype = Exclude<ShardDtype, "q8_0">;

/** Bytes of `n` values in `dtype` (q8_0: n int8s and one f16 scale per block of 32). */
export function bytesFor(dtype: ShardDtype, n: number): number {
  if (dtype === "q8_0") return n + (n / QK) * 2;
  return n * (dtype === "f32" ? 4 : 2);
}

/** The shard dtype for a model: its own FFN dtype when it round-trips exactly, else f32 (e.g. Q8_0 models). */
export function shardDtypeFor(sourceDtypes: string[]): ShardDtype {
  const d = sourceDtypes.map((s) => s.toUpperCase());
  if (d.length > 0 && d.every((s) => s === "F16" || s === "F32") && d.includes("F16")) return "f16";
  if (d.length > 0 && d.every((s) => s === "BF16" || s === "F32") && d.includes("BF16")) return "bf16";
  return "f32";
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Writes `values` as `dtype` into `out` at byte `offset` (little-endian). */
export function encodeInto(values: Float32Array, dtype: FloatDtype, out: Uint8Array, offset: number): void {
  if (dtype === "f32") {
    out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), offset);
    return;
  }
  const dv = new DataView(out.buffer, out.byteOffset + offset, values.length * 2);
  for (let i = 0; i < values.length; i++) {
    if (dtype === "f16") dv.setUint16(i * 2, f32ToF16(values[i]!), true);
    else {
      f32[0] = values[i]!;
      dv.setUint16(i * 2, u32[0]! >>> 16, true); // exact for values that came from bf16
    }
  }
}

/** Reads `n` elements of `dtype` at byte `offset` of `bytes` into `out` at element `outOffset`. */
export function decodeInto(bytes: Uint8Array, offset: number, dtype: FloatDtype, n: number, out: Float32Array, outOffset: number): void {
  if (dtype === "f32") {
    if ((bytes.byteOffset + offset) % 4 === 0) out.set(new Float32Array(bytes.buffer, bytes.byteOffset + offset, n), outOffset);
    else out.set(new Float32Array(bytes.slice(offset, offset + n * 4).buffer), outOffset);
    return;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, n * 2);
  for (let i = 0; i < n; i++) {
    const h = dv.getUint16(i * 2, true);
    if (dtype === "f16") out[outOffset + i] = f16ToF32(h);
    else {
      u32[0] = h << 16;
      out[outOffset + i] = f32[0]!;
    }
  }
}
