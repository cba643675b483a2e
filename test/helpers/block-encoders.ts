// An encoder for ggml's block-quantised types written from the format's definition
// (ggml-common.h's block_q4_0 ... block_q6_K and the quantize_row_*_ref packing), by
// element: for value i, which bits of which byte hold it. It shares no code with the
// loader's decoder (shared/model/block-quants.ts) so that tests can check one against
// the other. Each encoder returns the block bytes and the values they stand for,
// computed from the chosen integers and the f16-rounded scales.
import { f16ToF32, f32ToF16 } from "../../shared/model/dtypes.ts";

export interface EncodedBlocks {
  bytes: Uint8Array;
  /** What each value decodes to by the definition. */
  values: Float32Array;
}

/** The f16 bits of a scale and the value it stands for. */
function f16(x: number): { bits: number; value: number } {
  const bits = f32ToF16(x);
  return { bits, value: f16ToF32(bits) };
}

/** Integer parameters of one block of each type (the "known values" a test chooses). */
export interface Q4_0Block { d: number; q: number[] /* 32 x 0..15 */ }
export interface Q4_1Block { d: number; m: number; q: number[] /* 32 x 0..15 */ }
export interface Q5_0Block { d: number; q: number[] /* 32 x 0..31 */ }
export interface Q5_1Block { d: number; m: number; q: number[] /* 32 x 0..31 */ }
export interface QKBlock { d: number; dmin: number; scales: number[] /* 8 x 0..63 */; mins: number[] /* 8 x 0..63 */; q: number[] /* 256 x 0..15 (Q4_K) or 0..31 (Q5_K) */ }
export interface Q6KBlock { d: number; scales: number[] /* 16 x -128..127 */; q: number[] /* 256 x 0..63, value q - 32 */ }

/** 32 values in 16 bytes: value j (< 16) is byte j's low nibble, value j + 16 its high nibble. */
function nibbles32(q: number[], out: Uint8Array, at: number) {
  for (let i = 0; i < 32; i++) out[at + (i % 16)]! |= (q[i]! & 0xf) << (i < 16 ? 0 : 4);
}

export function encodeQ4_0(blocks: Q4_0Block[]): EncodedBlocks {
  const bytes = new Uint8Array(blocks.length * 18);
  const values = new Float32Array(blocks.length * 32);
  const dv = new DataView(bytes.buffer);
  blocks.forEach((b, k) => {
    const d = f16(b.d);
    dv.setUint16(k * 18, d.bits, true);
    nibbles32(b.q, bytes, k * 18 + 2);
    b.q.forEach((q, i) => (values[k * 32 + i] = d.value * (q - 8)));
  });
  return { bytes, values };
}

export function encodeQ4_1(blocks: Q4_1Block[]): EncodedBlocks {
  const bytes = new Uint8Array(blocks.length * 20);
  const values = new Float32Array(blocks.length * 32);
  const dv = new DataView(bytes.buffer);
  blocks.forEach((b, k) => {
    const d = f16(b.d);
    const m = f16(b.m);
    dv.setUint16(k * 20, d.bits, true);
    dv.setUint16(k * 20 + 2, m.bits, true);
    nibbles32(b.q, bytes, k * 20 + 4);
    b.q.forEach((q, i) => (values[k * 32 + i] = d.value * q + m.value));
  });
  return { bytes, values };
}

/** Q5_0/Q5_1: low 4 bits as Q4_x; the fifth bit of value i is bit i of the little-endian u32 qh. */
function encodeQ5(blocks: (Q5_0Block | Q5_1Block)[], withMin: boolean): EncodedBlocks {
  const size = withMin ? 24 : 22;
  const bytes = new Uint8Array(blocks.length * size);
  const values = new Float32Array(blocks.length * 32);
  const dv = new DataView(bytes.buffer);
  blocks.forEach((b, k) => {
    const at = k * size;
    const d = f16(b.d);
    const m = f16(withMin ? (b as Q5_1Block).m : 0);
    dv.setUint16(at, d.bits, true);
    if (withMin) dv.setUint16(at + 2, m.bits, true);
    let qh = 0;
    b.q.forEach((q, i) => (qh |= ((q >> 4) & 1) << i));
    dv.setUint32(at + (withMin ? 4 : 2), qh >>> 0, true);
    nibbles32(b.q, bytes, at + (withMin ? 8 : 6));
    b.q.forEach((q, i) => (values[k * 32 + i] = withMin ? d.value * q + m.value : d.value * (q - 16)));
  });
  return { bytes, values };
}
export const encodeQ5_0 = (blocks: Q5_0Block[]) => encodeQ5(blocks, false);
export const encodeQ5_1 = (blocks: Q5_1Block[]) => encodeQ5(blocks, true);

/**
 * The 12 scale bytes of Q4_K/Q5_K: sub-block j < 4 keeps its 6-bit scale in byte j and its
 * 6-bit min in byte j + 4; sub-block j >= 4 keeps the low 4 bits of scale and min in the
 * two nibbles of byte j + 4 and their top 2 bits in the top of bytes j - 4 and j.
 */
function packScalesMins(scales: number[], mins: number[], out: Uint8Array, at: number) {
  for (let j = 0; j < 8; j++) {
    const s = scales[j]!, m = mins[j]!;
    if (j < 4) {
      out[at + j]! |= s & 63;
      out[at + j + 4]! |= m & 63;
    } else {
      out[at + j + 4] = (s & 0xf) | ((m & 0xf) << 4);
      out[at + j - 4]! |= (s >> 4) << 6;
      out[at + j]! |= (m >> 4) << 6;
    }
  }
}

/**
 * Q4_K/Q5_K: 256 values in 8 sub-blocks of 32, value = d * scale[s] * q - dmin * min[s].
 * Value i lives in chunk c = i / 64: qs byte 32c + i % 32, low nibble for the chunk's first
 * 32 values, high for the next 32. Q5_K's fifth bit of value i is bit (2c + half) of qh[i % 32].
 */
function encodeQK(blocks: QKBlock[], five: boolean): EncodedBlocks {
  const size = five ? 176 : 144;
  const bytes = new Uint8Array(blocks.length * size);
  const values = new Float32Array(blocks.length * 256);
  const dv = new DataView(bytes.buffer);
  blocks.forEach((b, k) => {
    const at = k * size;
    const d = f16(b.d), dmin = f16(b.dmin);
    dv.setUint16(at, d.bits, true);
    dv.setUint16(at + 2, dmin.bits, true);
    packScalesMins(b.scales, b.mins, bytes, at + 4);
    const qs = at + (five ? 48 : 16);
    b.q.forEach((q, i) => {
      const chunk = Math.floor(i / 64), upper = i % 64 >= 32 ? 1 : 0;
      bytes[qs + 32 * chunk + (i % 32)]! |= (q & 0xf) << (4 * upper);
      if (five) bytes[at + 16 + (i % 32)]! |= ((q >> 4) & 1) << (2 * chunk + upper);
      const s = Math.floor(i / 32);
      values[k * 256 + i] = d.value * b.scales[s]! * q - dmin.value * b.mins[s]!;
    });
  });
  return { bytes, values };
}
export const encodeQ4_K = (blocks: QKBlock[]) => encodeQK(blocks, false);
export const encodeQ5_K = (blocks: QKBlock[]) => encodeQK(blocks, true);

/**
 * Q6_K: ql[128] qh[64] scales[16] d, value i = d * scales[i / 16] * (q - 32). Within each
 * half h of 128 values, value j = i % 128 sits in quarter r = j / 32: its low 4 bits in
 * ql[64h + j % 32 + 32 (r odd)] (low nibble for r < 2, high for r >= 2), its top 2 bits
 * at bit 2r of qh[32h + j % 32].
 */
export function encodeQ6_K(blocks: Q6KBlock[]): EncodedBlocks {
  const bytes = new Uint8Array(blocks.length * 210);
  const values = new Float32Array(blocks.length * 256);
  const dv = new DataView(bytes.buffer);
  blocks.forEach((b, k) => {
    const at = k * 210;
    const d = f16(b.d);
    b.q.forEach((q, i) => {
      const h = Math.floor(i / 128), j = i % 128, r = Math.floor(j / 32), l = j % 32;
      bytes[at + 64 * h + l + (r % 2) * 32]! |= (q & 0xf) << (r >= 2 ? 4 : 0);
      bytes[at + 128 + 32 * h + l]! |= ((q >> 4) & 3) << (2 * r);
      values[k * 256 + i] = d.value * b.scales[Math.floor(i / 16)]! * (q - 32);
    });
    b.scales.forEach((s, i) => dv.setInt8(at + 192 + i, s));
    dv.setUint16(at + 208, d.bits, true);
  });
  return { bytes, values };
}

// Simple quantizers (not ggml's error-minimising search) that pick each block's integers
// from real weights, so that a whole model can be written in these types.
const clampRound = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.round(x)));
const chunks = <T,>(x: Float32Array, n: number, f: (v: Float32Array) => T): T[] =>
  Array.from({ length: x.length / n }, (_, k) => f(x.subarray(k * n, (k + 1) * n)));
const amax = (v: Float32Array) => v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);

export function quantizeQ4_0(x: Float32Array): EncodedBlocks {
  return encodeQ4_0(chunks(x, 32, (v) => {
    const d = f16ToF32(f32ToF16(amax(v) / 7)) || 1;
    return { d, q: Array.from(v, (y) => clampRound(y / d + 8, 0, 15)) };
  }));
}

/** Sub-block ranges -> 6-bit scales and mins under a super-block d and dmin. */
function kBlock(v: Float32Array, levels: number): QKBlock {
  const subs = chunks(v, 32, (s) => ({ lo: Math.min(0, ...s), hi: Math.max(0, ...s) }));
  const d = f16ToF32(f32ToF16(Math.max(...subs.map((s) => (s.hi - s.lo) / levels)) / 63)) || 1;
  const dmin = f16ToF32(f32ToF16(Math.max(...subs.map((s) => -s.lo)) / 63)) || 1;
  const scales = subs.map((s) => clampRound((s.hi - s.lo) / levels / d, 1, 63));
  const mins = subs.map((s) => clampRound(-s.lo / dmin, 0, 63));
  const q = Array.from(v, (y, i) => clampRound((y + dmin * mins[i >> 5]!) / (d * scales[i >> 5]!), 0, levels));
  return { d, dmin, scales, mins, q };
}
export const quantizeQ4_K = (x: Float32Array) => encodeQ4_K(chunks(x, 256, (v) => kBlock(v, 15)));
export const quantizeQ5_K = (x: Float32Array) => encodeQ5_K(chunks(x, 256, (v) => kBlock(v, 31)));

export function quantizeQ6_K(x: Float32Array): EncodedBlocks {
  return encodeQ6_K(chunks(x, 256, (v) => {
    const subMax = chunks(v, 16, amax);
    const d = f16ToF32(f32ToF16(Math.max(...subMax) / 31 / 127)) || 1;
    const scales = subMax.map((m) => clampRound(m / 31 / d, 1, 127));
    return { d, scales, q: Array.from(v, (y, i) => clampRound(y / (d * scales[i >> 4]!) + 32, 0, 63)) };
  }));
}
