// Q8_0 weights kept quantized in memory (ggml's q8_0, which llama.cpp and llama2.c's
// runq.c use): each row is cut into blocks of 32 values, each block one scale d and
// 32 int8 q, value = d * q. GGUF stores a block as [f16 d | 32 x int8]; in memory the
// engine keeps the int8s of a matrix contiguous (SIMD loads) and the scales beside them
// as f32 (the f16 widened exactly), so nothing is ever dequantized to a float matrix.
import { ModelFormatError } from "./config.ts";
import { f16ToF32, f32ToF16 } from "./dtypes.ts";

export const QK = 32;
/** Bytes of one GGUF q8_0 block: an f16 scale and 32 int8. */
export const Q8_BLOCK_BYTES = 2 + QK;

/** A rows x cols matrix in Q8_0: q[r*cols + c] int8, d[r*cols/32 + c/32] the block scales. */
export interface Q8Matrix {
  readonly rows: number;
  readonly cols: number;
  readonly q: Int8Array;
  readonly d: Float32Array;
}

export function isQ8(m: Float32Array | Q8Matrix): m is Q8Matrix {
  return !(m instanceof Float32Array);
}

/** Floats of backing memory a rows x cols Q8 matrix takes (int8s first, 16-byte aligned, then scales). */
export function q8Floats(rows: number, cols: number): number {
  return Math.ceil((rows * cols) / 16) * 4 + (rows * cols) / QK;
}

/** A zeroed Q8 matrix whose int8s and scales are views of one array from `alloc` (backend memory). */
export function allocQ8(rows: number, cols: number, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): Q8Matrix {
  if (cols % QK !== 0) throw new ModelFormatError(`Q8_0 needs rows of a multiple of ${QK} values, got ${cols}`);
  const mem = alloc(q8Floats(rows, cols));
  const qFloats = Math.ceil((rows * cols) / 16) * 4;
  return {
    rows, cols,
    q: new Int8Array(mem.buffer, mem.byteOffset, rows * cols),
    d: new Float32Array(mem.buffer, mem.byteOffset + qFloats * 4, (rows * cols) / QK),
  };
}

/** C's roundf: halves round away from zero. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/**
 * Quantizes v[vo .. vo+n) (n a multiple of 32) into q[qo ..] and d[dOff ..] with ggml's reference
 * quantizer: d = max|v| / 127, q = round(v / d). `f16Scales`: store d rounded to f16, as a GGUF
 * block does (weights); activations keep the f32 scale (as runq.c).
 */
export function quantizeInto(v: ArrayLike<number>, vo: number, n: number, q: Int8Array | Int16Array, qo: number, d: Float32Array, dOff: number, f16Scales = true): void {
  for (let b = 0; b < n / QK; b++) {
    const o = vo + b * QK;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(v[o + j]!);
      if (a > amax) amax = a;
    }
    const scale = amax / 127;
    const inv = scale ? 1 / scale : 0;
    d[dOff + b] = f16Scales ? f16ToF32(f32ToF16(scale)) : scale;
    for (let j = 0; j < QK; j++) q[qo + b * QK + j] = roundHalfAway(v[o + j]! * inv);
  }
}

/** A row-major fp32 matrix quantized to Q8_0 (rows of `cols`, a multiple of 32). */
export function quantizeQ8(values: Float32Array, rows: number, cols: number, alloc?: (n: number) => Float32Array): Q8Matrix {
  if (values.length !== rows * cols) throw new RangeError(`${values.length} values for a ${rows} x ${cols} matrix`);
  const m = allocQ8(rows, cols, alloc);
  for (let r = 0; r < rows; r++) quantizeInto(values, r * cols, cols, m.q, r * cols, m.d, (r * cols) / QK);
  return m;
}

export function dequantizeQ8(m: Q8Matrix): Float32Array {
  const out = new Float32Array(m.rows * m.cols);
  for (let i = 0; i < out.length; i++) out[i] = m.d[(i / QK) | 0]! * m.q[i]!;
  return out;
}

/** A Q8 matrix from GGUF q8_0 block bytes, as they are: the int8s copied, the f16 scales widened exactly. */
export function q8FromBlocks(bytes: Uint8Array, offset: number, rows: number, cols: number, alloc?: (n: number) => Float32Array): Q8Matrix {
  const m = allocQ8(rows, cols, alloc);
  const nb = (rows * cols) / QK;
  if (offset + nb * Q8_BLOCK_BYTES > bytes.byteLength) throw new ModelFormatError("q8_0 tensor runs past the end of the file");
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, nb * Q8_BLOCK_BYTES);
  const src = new Int8Array(bytes.buffer, bytes.byteOffset + offset, nb * Q8_BLOCK_BYTES);
  for (let b = 0; b < nb; b++) {
    const o = b * Q8_BLOCK_BYTES;
    m.d[b] = f16ToF32(dv.getUint16(o, true));
    m.q.set(src.subarray(o + 2, o + Q8_BLOCK_BYTES), b * QK);
  }
  return m;
}

/** GGUF q8_0 block bytes of `n` values (a multiple of 32) starting at value `at` of q/d (what a shard stores). */
export function q8ToBlocks(q: Int8Array, d: Float32Array, at: number, n: number): Uint8Array {
  const out = new Uint8Array((n / QK) * Q8_BLOCK_BYTES);
  const dv = new DataView(out.buffer);
  const o8 = new Int8Array(out.buffer);
  for (let b = 0; b < n / QK; b++) {
    dv.setUint16(b * Q8_BLOCK_BYTES, f32ToF16(d[at / QK + b]!), true);
    o8.set(q.subarray(at + b * QK, at + (b + 1) * QK), b * Q8_BLOCK_BYTES + 2);
  }
  return out;
}
