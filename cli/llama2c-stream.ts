// Streaming llama2.c v0 checkpoint I/O for files too big for one buffer
// (readFileSync stops at 2 GiB): tensors are read one by one straight into
// memory from `alloc` (the WASM backend's, so weights are never copied), and
// written one by one from a generator.
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { headDim, kvDim, validateConfig, ModelFormatError, type ModelConfig } from "../shared/model/config.ts";
import type { LayerWeights, LoadedModel } from "../shared/model/weights.ts";
import { LLAMA2C_NORM_EPS } from "../shared/model/llama2c.ts";

const HEADER_BYTES = 28;
const LAYER_FIELDS = ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "wGate", "wDown", "wUp"] as const;
const FFN_FIELDS = new Set(["wGate", "wDown", "wUp"]);

export interface TensorSlot {
  name: string;
  /** Layer index, or -1 for model-level tensors. */
  layer: number;
  floats: number;
}

/** Tensors in file order (llama2.c legacy export), including the unused RoPE tables. */
export function llama2cLayout(c: ModelConfig, sharedClassifier: boolean): TensorSlot[] {
  const { dim, hiddenDim: h, nLayers: L, vocabSize: v, seqLen } = c;
  const kv = kvDim(c);
  const sizes: Record<(typeof LAYER_FIELDS)[number], number> = {
    attnNorm: dim, wq: dim * dim, wk: kv * dim, wv: kv * dim, wo: dim * dim, ffnNorm: dim, wGate: h * dim, wDown: dim * h, wUp: h * dim,
  };
  const out: TensorSlot[] = [{ name: "tokenEmbedding", layer: -1, floats: v * dim }];
  for (const f of LAYER_FIELDS) for (let l = 0; l < L; l++) out.push({ name: f, layer: l, floats: sizes[f] });
  out.push({ name: "finalNorm", layer: -1, floats: dim });
  out.push({ name: "ropeReal", layer: -1, floats: (seqLen * headDim(c)) / 2 });
  out.push({ name: "ropeImag", layer: -1, floats: (seqLen * headDim(c)) / 2 });
  if (!sharedClassifier) out.push({ name: "classifier", layer: -1, floats: v * dim });
  return out;
}

export function headerBytes(c: ModelConfig, sharedClassifier: boolean): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(out.buffer);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, sharedClassifier ? c.vocabSize : -c.vocabSize, c.seqLen].forEach((v, i) =>
    dv.setInt32(i * 4, v, true),
  );
  return out;
}

function readFully(fd: number, dst: Uint8Array, pos: number): void {
  const CHUNK = 1 << 30;
  for (let done = 0; done < dst.length; ) {
    const n = readSync(fd, dst, done, Math.min(CHUNK, dst.length - done), pos + done);
    if (n <= 0) throw new ModelFormatError(`llama2.c checkpoint truncated at byte ${pos + done}`);
    done += n;
  }
}

/**
 * Reads a llama2.c v0 checkpoint tensor by tensor into arrays from `alloc`; the FFN
 * matrices go into ordinary arrays, which a Transformer rebuilds neuron-major (then
 * they are garbage: the FFN is held once).
 */
export function readLlama2cFile(path: string, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): LoadedModel {
  const fd = openSync(path, "r");
  try {
    const hb = new Uint8Array(HEADER_BYTES);
    readFully(fd, hb, 0);
    const h = (i: number) => new DataView(hb.buffer).getInt32(i * 4, true);
    const config: ModelConfig = {
      dim: h(0), hiddenDim: h(1), nLayers: h(2), nHeads: h(3), nKvHeads: h(4), vocabSize: Math.abs(h(5)), seqLen: h(6),
      ropeTheta: 10000, normEps: LLAMA2C_NORM_EPS,
    };
    validateConfig(config);
    const shared = h(5) > 0;
    const tensors = new Map<string, Float32Array>();
    let pos = HEADER_BYTES;
    for (const t of llama2cLayout(config, shared)) {
      if (t.name.startsWith("rope")) {
        pos += t.floats * 4; // RoPE is recomputed by the engine
        continue;
      }
      const a = FFN_FIELDS.has(t.name) ? new Float32Array(t.floats) : alloc(t.floats);
      readFully(fd, new Uint8Array(a.buffer, a.byteOffset, a.byteLength), pos);
      pos += t.floats * 4;
      tensors.set(`${t.name}/${t.layer}`, a);
    }
    const get = (name: string, layer = -1) => tensors.get(`${name}/${layer}`)!;
    const layers: LayerWeights[] = [];
    for (let l = 0; l < config.nLayers; l++) {
      layers.push(Object.fromEntries(LAYER_FIELDS.map((f) => [f, get(f, l)])) as unknown as LayerWeights);
    }
    const tokenEmbedding = get("tokenEmbedding");
    return {
      config,
      weights: { tokenEmbedding, layers, finalNorm: get("finalNorm"), classifier: shared ? tokenEmbedding : get("classifier") },
      source: { format: "llama2c", version: 0, dtypes: ["f32"] },
    };
  } finally {
    closeSync(fd);
  }
}

/** Writes a checkpoint tensor by tensor; `fill(slot, out, offset)` writes floats [offset, offset+out.length) of a tensor. */
export function writeLlama2cFile(
  path: string, c: ModelConfig, sharedClassifier: boolean,
  fill: (t: TensorSlot, out: Float32Array, offset: number) => void,
): number {
  const fd = openSync(path, "w");
  const chunk = new Float32Array(1 << 20);
  let bytes = 0;
  try {
    bytes += writeSync(fd, headerBytes(c, sharedClassifier));
    for (const t of llama2cLayout(c, sharedClassifier)) {
      for (let off = 0; off < t.floats; off += chunk.length) {
        const part = chunk.subarray(0, Math.min(chunk.length, t.floats - off));
        fill(t, part, off);
        bytes += writeSync(fd, new Uint8Array(part.buffer, 0, part.byteLength));
      }
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}
