// The compute backend: where the hot loops of the forward pass run. The
// Transformer calls only these methods for O(n*d) work; everything O(dim)
// (RMSNorm, RoPE, SiLU, residual adds) stays in plain TypeScript.
import type { CompactFfn } from "../compact-ffn.ts";
import type { FfnBundles } from "../ffn-bundles.ts";
import { attention, compactFfn, compactFfnBatch, downSum, matmul, matvec, type AttentionShape } from "../kernels.ts";
import type { EngineWeights, Matrix } from "../engine-weights.ts";
import { isQ8, type Q8Matrix } from "../../model/q8.ts";
import { q8Matmul, q8Matvec } from "../q8-kernels.ts";

export type BackendName = "ts" | "wasm";

export interface Backend {
  /** "ts", "wasm", or a Node-only variant such as "wasm-mt". */
  readonly name: string;
  /** A zeroed array the kernels can read and write in place (WASM memory for "wasm"). */
  alloc(n: number): Float32Array;
  /** Gives back an array from alloc() (a finished inference state). */
  free(a: Float32Array): void;
  /** Returns `a` itself when the kernels can read it in place, else a copy in backend memory. */
  adopt(a: Float32Array): Float32Array;
  matvec(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void;
  /** Returns `m` itself when the kernels can read it in place, else a copy in backend memory. */
  adoptQ8(m: Q8Matrix): Q8Matrix;
  /** out[0..w.rows) = W x for a Q8_0 matrix, x quantized per block of 32 (see ../q8-kernels.ts). */
  matvecQ8(out: Float32Array, x: Float32Array, w: Q8Matrix): void;
  /** matvecQ8 for ntok tokens at once (prefill): x ntok rows of w.cols, out ntok rows of w.rows. */
  matmulQ8(out: Float32Array, x: Float32Array, w: Q8Matrix, ntok: number): void;
  /** matvec for ntok tokens at once (prefill): x is ntok rows of n, out ntok rows of d. */
  matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, ntok: number): void;
  attention(out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array,
    att: Float32Array, layerBase: number, pos: number, shape: AttentionShape): void;
  /** SwiGLU FFN over f's slots of its neuron-major bundles (see kernels.ts compactFfn); dense is every slot. */
  compactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void;
  /** compactFfn for ntok tokens: x, out rows of dim; hb, hb2 rows of k (f's slots). */
  compactFfnBatch(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number, ntok: number): void;
  /** out = sum_i a[i] * W_down column of slot slots[i] (DART's mean-compensation bias). */
  downSum(out: Float32Array, b: FfnBundles, slots: Int32Array, a: Float32Array): void;
  /** Makes f's bundles resident in backend memory now when they live elsewhere (built from shard bytes). */
  prepare(f: CompactFfn): void;
  /** Frees backend memory holding a copy of f's bundles (they stay usable: the next call uploads them again). */
  release(f: CompactFfn): void;
  /** Frees backend memory holding a copy of f's bundles, which their owner will not use again. */
  discard(f: CompactFfn): void;
}

/** The reference path: the readable kernels of ../kernels.ts on ordinary typed arrays. */
export const tsBackend: Backend = {
  name: "ts",
  alloc: (n) => new Float32Array(n),
  free() {},
  adopt: (a) => a,
  matvec,
  adoptQ8: (m) => m,
  matvecQ8: q8Matvec,
  matmulQ8: q8Matmul,
  matmul,
  attention,
  compactFfn,
  compactFfnBatch,
  downSum,
  prepare() {},
  release() {},
  discard() {},
};

/** Every non-FFN weight tensor adopted by the backend; a tied classifier stays tied. */
export function adoptWeights(b: Backend, w: EngineWeights): EngineWeights {
  const tokenEmbedding = b.adopt(w.tokenEmbedding);
  const m = (a: Matrix) => (isQ8(a) ? b.adoptQ8(a) : b.adopt(a));
  return {
    tokenEmbedding,
    finalNorm: b.adopt(w.finalNorm),
    classifier: w.classifier === w.tokenEmbedding ? tokenEmbedding : m(w.classifier),
    layers: w.layers.map((l) => ({
      attnNorm: b.adopt(l.attnNorm), wq: m(l.wq), wk: m(l.wk), wv: m(l.wv), wo: m(l.wo),
      ffnNorm: b.adopt(l.ffnNorm),
    })),
  };
}

/** out = W x for either kind of matrix (n inputs, d outputs). */
export function matvecAny(b: Backend, out: Float32Array, x: Float32Array, w: Matrix, n: number, d: number): void {
  if (isQ8(w)) b.matvecQ8(out, x, w);
  else b.matvec(out, x, w, n, d);
}

/** matmul for either kind of matrix. */
export function matmulAny(b: Backend, out: Float32Array, x: Float32Array, w: Matrix, n: number, d: number, ntok: number): void {
  if (isQ8(w)) b.matmulQ8(out, x, w, ntok);
  else b.matmul(out, x, w, n, d, ntok);
}
