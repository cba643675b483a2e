// Tensor element types of GGUF that the engine reads, and their conversion to fp32.
import { ModelFormatError } from "./config.ts";
import { BLOCK_FORMATS, decodeBlocks } from "./block-quants.ts";

export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q5_0: 6, Q5_1: 7, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;
const NAMES: Record<number, string> = {
  0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
  12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64", 30: "BF16",
};
export function ggmlTypeName(type: number): string {
  return NAMES[type] ?? `type ${type}`;
}

/** q8_0: blocks of 32 values, each an f16 scale followed by 32 int8. */
export const Q8_0_BLOCK = 32;
const Q8_0_BLOCK_BYTES = 2 + Q8_0_BLOCK;

// A function, not a constant: block-quants.ts imports this module back.
const supported = () => ["F32", "F16", "BF16", "Q8_0", ...Object.keys(BLOCK_FORMATS).map((t) => NAMES[Number(t)])].join(", ");

/** Bytes taken by `n` elements of a supported type; throws for others. */
export function tensorBytes(type: number, n: number, tensorName: string): number {
  switch (type) {
    case GGML_TYPE.F32: return n * 4;
    case GGML_TYPE.F16: case GGML_TYPE.BF16: return n * 2;
    case GGML_TYPE.Q8_0:
      if (n % Q8_0_BLOCK !== 0) throw new ModelFormatError(`tensor ${tensorName}: Q8_0 needs a multiple of 32 elements, has ${n}`);
      return (n / Q8_0_BLOCK) * Q8_0_BLOCK_BYTES;
    default: {
      const f = BLOCK_FORMATS[type];
      if (!f) throw new ModelFormatError(`tensor ${tensorName}: unsupported dtype ${ggmlTypeName(type)} (supported: ${supported()})`);
      if (n % f.values !== 0) throw new ModelFormatError(`tensor ${tensorName}: ${ggmlTypeName(type)} needs a multiple of ${f.values} elements, has ${n}`);
      return (n / f.values) * f.bytes;
    }
  }
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // subnormal
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);
/** Round-to-nearest-even fp32 -> fp16 bits. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** Decodes `n` elements of `type` starting at `offset` of `bytes` into fp32. */
export function dequantize(bytes: Uint8Array, offset: number, type: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset);
  switch (type) {
    case GGML_TYPE.F32:
      out.set(new Float32Array(bytes.slice(offset, offset + n * 4).buffer));
      break;
    case GGML_TYPE.F16:
      for (let i = 0; i < n; i++) out[i] = f16ToF32(dv.getUint16(i * 2, true));
      break;
    case GGML_TYPE.BF16:
      for (let i = 0; i < n; i++) {
        u32Scratch[0] = dv.getUint16(i * 2, true) << 16;
        out[i] = f32Scratch[0]!;
      }
      break;
    case GGML_TYPE.Q8_0:
      for (let b = 0; b < n / Q8_0_BLOCK; b++) {
        const base = b * Q8_0_BLOCK_BYTES;
        const d = f16ToF32(dv.getUint16(base, true));
        for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * dv.getInt8(base + 2 + j);
      }
      break;
    default: {
      const f = BLOCK_FORMATS[type];
      if (!f) throw new ModelFormatError(`unsupported dtype ${ggmlTypeName(type)}`);
      return decodeBlocks(f, bytes, offset, n);
    }
  }
  return out;
}

/** Encodes fp32 values as `type` (F32, F16, BF16 or Q8_0 with ggml's reference quantizer). */
export function quantize(values: Float32Array, type: number): Uint8Array {
  const n = values.length;
  switch (type) {
    case GGML_TYPE.F32:
      return new Uint8Array(values.slice().buffer);
    case GGML_TYPE.F16: {
      const out = new Uint8Array(n * 2);
      const dv = new DataView(out.buffer);
      for (let i = 0; i < n; i++) dv.setUint16(i * 2, f32ToF16(values[i]!), true);
      return out;
    }
    case GGML_TYPE.BF16: {
      // The top half of the f32 bits, rounded to nearest even (ggml_compute_fp32_to_bf16; NaN stays NaN).
      const out = new Uint8Array(n * 2);
      const dv = new DataView(out.buffer);
      const bits = new Uint32Array(values.buffer, values.byteOffset, n);
      for (let i = 0; i < n; i++) {
        const u = bits[i]!;
        const h = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 64 : (u + 0x7fff + ((u >>> 16) & 1)) >>> 16;
        dv.setUint16(i * 2, h & 0xffff, true);
      }
      return out;
    }
    case GGML_TYPE.Q8_0: {
      const out = new Uint8Array(tensorBytes(type, n, "quantize"));
      const dv = new DataView(out.buffer);
      for (let b = 0; b < n / Q8_0_BLOCK; b++) {
        let amax = 0;
        for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(values[b * Q8_0_BLOCK + j]!));
        const d = amax / 127;
        const id = d ? 1 / d : 0;
        const base = b * Q8_0_BLOCK_BYTES;
        dv.setUint16(base, f32ToF16(d), true);
        for (let j = 0; j < Q8_0_BLOCK; j++) dv.setInt8(base + 2 + j, roundHalfAway(values[b * Q8_0_BLOCK + j]! * id));
      }
      return out;
    }
    default:
      throw new ModelFormatError(`cannot quantize to ${ggmlTypeName(type)}`);
  }
}

/** C's roundf: halves round away from zero (Math.round rounds them up). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}
