// ggml's block-quantised tensor types, decoded to fp32 at load exactly as ggml's
// dequantize_row_* (ggml-quants.c) does. Each block is self-contained: a few f16 scales
// and packed small integers for 32 values (Q4_0, Q4_1, Q5_0, Q5_1) or a 256-value
// super-block (the K-quants Q4_K, Q5_K, Q6_K that Q4_K_M and Q5_K_M files are made of).
// Q8_0 lives in dtypes.ts beside its quantizer.
import { f16ToF32 } from "./dtypes.ts";

export interface BlockFormat {
  /** Values per block. */
  values: number;
  /** Bytes per block. */
  bytes: number;
  /** Decodes the block at `at` of `dv` into out[o .. o + values). */
  decode(dv: DataView, at: number, out: Float32Array, o: number): void;
}

const half = (dv: DataView, at: number) => f16ToF32(dv.getUint16(at, true));

/** block_q4_0 { f16 d; u8 qs[16] }: value = d * (nibble - 8); low nibbles are values 0..15, high ones 16..31. */
const Q4_0: BlockFormat = {
  values: 32,
  bytes: 18,
  decode(dv, at, out, o) {
    const d = half(dv, at);
    for (let j = 0; j < 16; j++) {
      const q = dv.getUint8(at + 2 + j);
      out[o + j] = d * ((q & 0xf) - 8);
      out[o + j + 16] = d * ((q >> 4) - 8);
    }
  },
};

/** block_q4_1 { f16 d; f16 m; u8 qs[16] }: value = d * nibble + m. */
const Q4_1: BlockFormat = {
  values: 32,
  bytes: 20,
  decode(dv, at, out, o) {
    const d = half(dv, at);
    const m = half(dv, at + 2);
    for (let j = 0; j < 16; j++) {
      const q = dv.getUint8(at + 4 + j);
      out[o + j] = d * (q & 0xf) + m;
      out[o + j + 16] = d * (q >> 4) + m;
    }
  },
};

/** block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: bit j of qh is value j's fifth bit; value = d * (q - 16). */
const Q5_0: BlockFormat = {
  values: 32,
  bytes: 22,
  decode(dv, at, out, o) {
    const d = half(dv, at);
    const qh = dv.getUint32(at + 2, true);
    for (let j = 0; j < 16; j++) {
      const q = dv.getUint8(at + 6 + j);
      out[o + j] = d * (((q & 0xf) | (((qh >>> j) & 1) << 4)) - 16);
      out[o + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
    }
  },
};

/** block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16] }: value = d * q + m. */
const Q5_1: BlockFormat = {
  values: 32,
  bytes: 24,
  decode(dv, at, out, o) {
    const d = half(dv, at);
    const m = half(dv, at + 2);
    const qh = dv.getUint32(at + 4, true);
    for (let j = 0; j < 16; j++) {
      const q = dv.getUint8(at + 8 + j);
      out[o + j] = d * ((q & 0xf) | (((qh >>> j) & 1) << 4)) + m;
      out[o + j + 16] = d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + m;
    }
  },
};

/**
 * The 8 six-bit scales and 8 six-bit mins of a Q4_K/Q5_K super-block, packed in 12 bytes
 * (ggml's get_scale_min_k4): sub-blocks 0..3 use the low 6 bits of bytes 0..3 (scales)
 * and 4..7 (mins); sub-blocks 4..7 put their low 4 bits in bytes 8..11 and their top 2
 * bits in the spare top bits of bytes 0..7.
 */
function scaleMin(dv: DataView, at: number, j: number): [number, number] {
  const b = (i: number) => dv.getUint8(at + i);
  if (j < 4) return [b(j) & 63, b(j + 4) & 63];
  return [(b(j + 4) & 0xf) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4)];
}

/**
 * The Q4_K and Q5_K body: 8 sub-blocks of 32, value = d * scale * q - dmin * min, 6-bit scales
 * and mins at at+4. Each 32 bytes of qs (from `qsAt`) hold two sub-blocks, low nibbles then high;
 * Q5_K adds a fifth bit per value from the 32 bytes at `qhAt` (bits 2*chunk and 2*chunk+1).
 */
function decodeK4or5(dv: DataView, at: number, out: Float32Array, o: number, qsAt: number, qhAt: number | null): void {
  const d = half(dv, at);
  const dmin = half(dv, at + 2);
  for (let chunk = 0; chunk < 4; chunk++) {
    const [s1, m1] = scaleMin(dv, at + 4, 2 * chunk);
    const [s2, m2] = scaleMin(dv, at + 4, 2 * chunk + 1);
    const qs = qsAt + 32 * chunk;
    const y = o + 64 * chunk;
    for (let l = 0; l < 32; l++) {
      const q = dv.getUint8(qs + l);
      const h = qhAt === null ? 0 : dv.getUint8(qhAt + l);
      out[y + l] = d * s1 * ((q & 0xf) | (((h >> (2 * chunk)) & 1) << 4)) - dmin * m1;
      out[y + 32 + l] = d * s2 * ((q >> 4) | (((h >> (2 * chunk + 1)) & 1) << 4)) - dmin * m2;
    }
  }
}

/** block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] } */
const Q4_K: BlockFormat = {
  values: 256,
  bytes: 144,
  decode: (dv, at, out, o) => decodeK4or5(dv, at, out, o, at + 16, null),
};

/** block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: Q4_K plus a fifth bit per value from qh. */
const Q5_K: BlockFormat = {
  values: 256,
  bytes: 176,
  decode: (dv, at, out, o) => decodeK4or5(dv, at, out, o, at + 48, at + 16),
};

/**
 * block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }: 16 sub-blocks of 16 with
 * signed 8-bit scales, value = d * scale * (q - 32) where q is 4 low bits from ql and
 * 2 high bits from qh. Each half of 128 values uses 64 bytes of ql and 32 of qh.
 */
const Q6_K: BlockFormat = {
  values: 256,
  bytes: 210,
  decode(dv, at, out, o) {
    const d = half(dv, at + 208);
    for (let h = 0; h < 2; h++) {
      const ql = at + 64 * h;
      const qh = at + 128 + 32 * h;
      const sc = at + 192 + 8 * h;
      const y = o + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const lo0 = dv.getUint8(ql + l);
        const lo1 = dv.getUint8(ql + l + 32);
        const hi = dv.getUint8(qh + l);
        out[y + l] = d * dv.getInt8(sc + is) * (((lo0 & 0xf) | ((hi & 3) << 4)) - 32);
        out[y + l + 32] = d * dv.getInt8(sc + is + 2) * (((lo1 & 0xf) | (((hi >> 2) & 3) << 4)) - 32);
        out[y + l + 64] = d * dv.getInt8(sc + is + 4) * (((lo0 >> 4) | (((hi >> 4) & 3) << 4)) - 32);
        out[y + l + 96] = d * dv.getInt8(sc + is + 6) * (((lo1 >> 4) | (((hi >> 6) & 3) << 4)) - 32);
      }
    }
  },
};

/** By ggml type id. */
export const BLOCK_FORMATS: Record<number, BlockFormat> = { 2: Q4_0, 3: Q4_1, 6: Q5_0, 7: Q5_1, 12: Q4_K, 13: Q5_K, 14: Q6_K };

/** Decodes `n` values (a whole number of blocks) of a block format into fp32. */
export function decodeBlocks(format: BlockFormat, bytes: Uint8Array, offset: number, n: number): Float32Array {
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset);
  for (let b = 0; b < n / format.values; b++) format.decode(dv, b * format.bytes, out, b * format.values);
  return out;
}
