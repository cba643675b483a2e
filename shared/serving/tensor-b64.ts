// Typed arrays and mask plans as base64 text for the node protocol (little-endian, as every
// platform the project runs on stores them).
import type { MaskPlan } from "../dart/masking-pruner.ts";
import { fromBase64, toBase64 } from "./base64.ts";
import type { EncodedMaskPlan } from "./protocol.ts";

const bytesOf = (a: Float32Array | Int32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

export const f32ToB64 = (a: Float32Array): string => toBase64(bytesOf(a));
export const i32ToB64 = (a: Int32Array): string => toBase64(bytesOf(a));

/** A copy (aligned) of the array the text holds; a length that is not a whole number of values throws. */
function decode<T>(b64: string, make: (buf: ArrayBuffer) => T): T {
  const bytes = fromBase64(b64);
  if (bytes.byteLength % 4 !== 0) throw new RangeError("base64 array length is not a multiple of 4 bytes");
  return make(bytes.slice().buffer);
}
export const f32FromB64 = (b64: string): Float32Array => decode(b64, (b) => new Float32Array(b));
export const i32FromB64 = (b64: string): Int32Array => decode(b64, (b) => new Int32Array(b));

export function encodePlan(p: MaskPlan): EncodedMaskPlan {
  return { kept: p.kept.map((k) => (k ? i32ToB64(k) : "")), bias: p.bias.map((b) => (b ? f32ToB64(b) : "")) };
}

/** Decodes and checks a plan against the model's shape (kept ascending and in range, bias of length dim). */
export function decodePlan(e: EncodedMaskPlan, nLayers: number, hiddenDim: number, dim: number): MaskPlan {
  if (!Array.isArray(e.kept) || !Array.isArray(e.bias) || e.kept.length !== nLayers || e.bias.length !== nLayers) {
    throw new RangeError(`a mask plan needs ${nLayers} kept lists and ${nLayers} biases`);
  }
  const kept = e.kept.map((s) => {
    if (s === "") return null;
    const k = i32FromB64(s);
    for (let i = 0; i < k.length; i++) {
      if (!(k[i]! >= 0 && k[i]! < hiddenDim) || (i > 0 && k[i]! <= k[i - 1]!)) throw new RangeError("kept neurons must be ascending and within the layer");
    }
    return k;
  });
  const bias = e.bias.map((s) => {
    if (s === "") return null;
    const b = f32FromB64(s);
    if (b.length !== dim) throw new RangeError(`a bias has ${b.length} values, the model's dim is ${dim}`);
    return b;
  });
  return { kept, bias };
}
