// Small helpers for the kernel tests: seeded arrays, relative error, tiny synthetic models.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readLlama2cFile } from "../../cli/llama2c-stream.ts";
import { SHAPES, writeSynthModel } from "../../cli/synth-model.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import type { Backend } from "../../shared/engine/backend/index.ts";
import { compactOf } from "../../shared/engine/compact-ffn.ts";
import type { FfnBundles } from "../../shared/engine/ffn-bundles.ts";

export function seeded(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

/** max |a - b| over max |b|: the agreement measure the issue asks for (1e-4). */
export function relErr(a: Float32Array, b: Float32Array): number {
  let d = 0, m = 0;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / m;
}

export const tmp = () => mkdtempSync(join(tmpdir(), "dart-kernels-"));

/** The `tiny` synthetic shape written and read back through the streaming llama2.c I/O. */
export function tinyModel(seed = 1): LoadedModel {
  const path = join(tmp(), "tiny.bin");
  writeSynthModel(path, SHAPES.tiny!, seed);
  return readLlama2cFile(path);
}

/** Keeps every other neuron but a few, ascending (a compacted FFN's kept list). */
export function keepSome(hidden: number, fraction: number, seed: number): Int32Array {
  const r = seeded(hidden, seed);
  const idx = Array.from({ length: hidden }, (_, i) => i).sort((a, b) => r[a]! - r[b]!);
  return Int32Array.from(idx.slice(0, Math.round(hidden * fraction)).sort((a, b) => a - b));
}

/** One token through backend `be`'s compactFfn over the kept neurons of `b`: the activations (k) and the output (dim). */
export function runFfn(be: Backend, b: FfnBundles, kept: Int32Array, x: Float32Array, bias: Float32Array | null): { hb: Float32Array; out: Float32Array } {
  const hb = new Float32Array(b.hiddenDim), hb2 = new Float32Array(b.hiddenDim), out = new Float32Array(b.dim);
  be.compactFfn(compactOf(b, kept, bias), x, hb, hb2, out, b.dim);
  return { hb: hb.slice(0, kept.length), out };
}

/** backend `be`'s downSum over the kept neurons of `b` with coefficients a. */
export function runDownSum(be: Backend, b: FfnBundles, kept: Int32Array, a: Float32Array): Float32Array {
  const out = new Float32Array(b.dim);
  be.downSum(out, b, b.slotsFor(kept), a);
  return out;
}
