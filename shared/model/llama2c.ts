// Reader for llama2.c legacy (v0) checkpoints: a 7 x int32 header followed by
// fp32 tensors in a fixed order. A negative vocab size in the header means the
// file carries its own classifier after the RoPE tables (unshared weights).
import { ModelFormatError, headDim, kvDim, validateConfig, type ModelConfig } from "./config.ts";
import type { LayerWeights, LoadedModel } from "./weights.ts";

const HEADER_BYTES = 7 * 4;
/** llama2.c's RMSNorm epsilon is the float literal 1e-5f; GGUF files store the same float32. */
export const LLAMA2C_NORM_EPS = Math.fround(1e-5);
/** Magic of llama2.c's newer export formats ("ak42"), which this reader does not handle. */
const AK42_MAGIC = 0x616b3432;

export function readLlama2c(buffer: ArrayBuffer): LoadedModel {
  if (buffer.byteLength < HEADER_BYTES) {
    throw new ModelFormatError(`llama2.c checkpoint truncated: ${buffer.byteLength} bytes, the header alone needs ${HEADER_BYTES}`);
  }
  const header = new DataView(buffer, 0, HEADER_BYTES);
  if (header.getUint32(0, true) === AK42_MAGIC) {
    throw new ModelFormatError("llama2.c export format v1/v2 (magic ak42) is not supported; export with legacy_export (v0) or use GGUF");
  }
  const h = (i: number) => header.getInt32(i * 4, true);
  const vocabRaw = h(5);
  const config: ModelConfig = {
    dim: h(0),
    hiddenDim: h(1),
    nLayers: h(2),
    nHeads: h(3),
    nKvHeads: h(4),
    vocabSize: Math.abs(vocabRaw),
    seqLen: h(6),
    ropeTheta: 10000,
    normEps: LLAMA2C_NORM_EPS,
  };
  validateConfig(config);
  const sharedClassifier = vocabRaw > 0;
  const { dim, hiddenDim: hidden, nLayers: L, vocabSize: vocab, seqLen } = config;
  const kv = kvDim(config);
  const hs = headDim(config);

  const floatsNeeded =
    vocab * dim + L * dim * 2 + L * dim * dim * 2 + L * dim * kv * 2 + L * hidden * dim * 3 + dim +
    seqLen * hs + // freq_cis_real + freq_cis_imag (unused: RoPE is recomputed)
    (sharedClassifier ? 0 : vocab * dim);
  const bytesNeeded = HEADER_BYTES + floatsNeeded * 4;
  if (buffer.byteLength < bytesNeeded) {
    throw new ModelFormatError(
      `llama2.c checkpoint truncated: header describes ${bytesNeeded} bytes ` +
        `(dim ${dim}, hidden ${hidden}, ${L} layers, vocab ${vocab}), file has ${buffer.byteLength}`,
    );
  }
  // Each tensor gets its own copy, so the file's buffer can be dropped after loading.
  let offset = HEADER_BYTES;
  const take = (n: number): Float32Array => {
    const out = new Float32Array(buffer.slice(offset, offset + n * 4));
    offset += n * 4;
    return out;
  };
  const tokenEmbedding = take(vocab * dim);
  const perLayer = (n: number) => Array.from({ length: L }, () => take(n));
  const attnNorm = perLayer(dim);
  const wq = perLayer(dim * dim);
  const wk = perLayer(kv * dim);
  const wv = perLayer(kv * dim);
  const wo = perLayer(dim * dim);
  const ffnNorm = perLayer(dim);
  const wGate = perLayer(hidden * dim);
  const wDown = perLayer(dim * hidden);
  const wUp = perLayer(hidden * dim);
  const finalNorm = take(dim);
  offset += seqLen * hs * 4; // skip freq_cis_real and freq_cis_imag
  const classifier = sharedClassifier ? tokenEmbedding : take(vocab * dim);

  const layers: LayerWeights[] = [];
  for (let l = 0; l < L; l++) {
    layers.push({
      attnNorm: attnNorm[l]!, wq: wq[l]!, wk: wk[l]!, wv: wv[l]!, wo: wo[l]!,
      ffnNorm: ffnNorm[l]!, wGate: wGate[l]!, wDown: wDown[l]!, wUp: wUp[l]!,
    });
  }
  return {
    config,
    weights: { tokenEmbedding, layers, finalNorm, classifier },
    source: { format: "llama2c", version: 0, dtypes: ["f32"] },
  };
}

/** Writes a llama2.c v0 checkpoint (used by `dart synth` and tests). */
export function writeLlama2c(model: Pick<LoadedModel, "config" | "weights">): Uint8Array {
  const { config: c, weights: w } = model;
  const shared = w.classifier === w.tokenEmbedding;
  const hs = headDim(c);
  const parts: Float32Array[] = [w.tokenEmbedding];
  const fields: (keyof LayerWeights)[] = ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "wGate", "wDown", "wUp"];
  for (const f of fields) for (const layer of w.layers) parts.push(layer[f]);
  parts.push(w.finalNorm);
  // RoPE tables as llama2.c's export writes them (readers recompute them, but keep the file faithful).
  const re = new Float32Array(c.seqLen * (hs / 2));
  const im = new Float32Array(c.seqLen * (hs / 2));
  for (let p = 0; p < c.seqLen; p++) {
    for (let i = 0; i < hs / 2; i++) {
      const angle = p / Math.pow(c.ropeTheta, (2 * i) / hs);
      re[p * (hs / 2) + i] = Math.cos(angle);
      im[p * (hs / 2) + i] = Math.sin(angle);
    }
  }
  parts.push(re, im);
  if (!shared) parts.push(w.classifier);
  const floats = parts.reduce((s, p) => s + p.length, 0);
  const out = new Uint8Array(HEADER_BYTES + floats * 4);
  const dv = new DataView(out.buffer);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, shared ? c.vocabSize : -c.vocabSize, c.seqLen].forEach((v, i) =>
    dv.setInt32(i * 4, v, true),
  );
  let off = HEADER_BYTES;
  for (const p of parts) {
    out.set(new Uint8Array(p.buffer, p.byteOffset, p.byteLength), off);
    off += p.byteLength;
  }
  return out;
}
