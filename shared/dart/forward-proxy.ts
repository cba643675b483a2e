// DART's forward proxy: P = W_down^T E^T (hiddenDim x vocab) per layer, reduced to
// g_max[i] = max_v |P[i,v]| and g_mean[i] = mean_v |P[i,v]|. P is never held whole:
// it is streamed in blocks of vocabulary rows, so memory stays hiddenDim x block.
import type { ModelConfig } from "../model/config.ts";
import type { LayerWeights, ModelWeights } from "../model/weights.ts";
import type { EngineWeights } from "../engine/engine-weights.ts";
import type { FfnBundles } from "../engine/ffn-bundles.ts";

/**
 * Layer l's W_down transposed into `out` (hidden x dim: row j = column j), from the
 * row-major matrix of a loaded model, or from a Transformer's neuron-major bundles (`ffn`).
 */
function downTransposed(config: ModelConfig, weights: ModelWeights | EngineWeights, l: number, out: Float32Array, ffn?: FfnBundles[]): void {
  const { dim, hiddenDim: hidden } = config;
  if (ffn) {
    for (let j = 0; j < hidden; j++) out.set(ffn[l]!.rowValues(j, 2), j * dim); // (a dequantized copy for Q8_0)
    return;
  }
  const wd = (weights.layers[l] as LayerWeights).wDown;
  if (!wd) throw new TypeError("the forward proxy needs W_down: pass the model's FFN bundles");
  for (let d = 0; d < dim; d++) for (let i = 0; i < hidden; i++) out[i * dim + d] = wd[d * hidden + i]!;
}

export interface ForwardProxy {
  gMax: Float32Array[]; // per layer, hiddenDim
  gMean: Float32Array[];
}

/**
 * At most this many vocabulary rows enter the proxy. Larger vocabularies (Llama 3's 128,256)
 * are sampled at an even stride over the ids (BPE ids run from frequent merges to rare ones,
 * so the sample spans both): g_mean is then an estimate of the mean and g_max a lower bound,
 * and the cost is capped at hiddenDim x dim x PROXY_VOCAB_ROWS per layer.
 */
export const PROXY_VOCAB_ROWS = 4096;

/** The embedding rows the proxy reads: all of them, or an even-stride sample of `max`. */
export function proxyRows(vocab: number, max = PROXY_VOCAB_ROWS): Int32Array {
  const n = Math.min(vocab, max);
  return Int32Array.from({ length: n }, (_, i) => Math.floor((i * vocab) / n));
}

export function computeForwardProxy(
  config: ModelConfig, weights: ModelWeights | EngineWeights, vocabBlock = 256, ffn?: FfnBundles[],
  onLayer?: (done: number, total: number) => void, maxRows = PROXY_VOCAB_ROWS,
): ForwardProxy {
  const { dim, hiddenDim: hidden } = config;
  const E = weights.tokenEmbedding; // vocab x dim
  const rows = proxyRows(config.vocabSize, maxRows);
  const vocab = rows.length;
  const gMax: Float32Array[] = [];
  const gMean: Float32Array[] = [];
  const block = new Float32Array(vocabBlock * hidden);
  const downT = new Float32Array(hidden * dim); // W_down transposed: row i = column i of W_down
  for (let l = 0; l < config.nLayers; l++) {
    downTransposed(config, weights, l, downT, ffn);
    const mx = new Float32Array(hidden);
    const sum = new Float64Array(hidden);
    for (let v0 = 0; v0 < vocab; v0 += vocabBlock) {
      const nv = Math.min(vocabBlock, vocab - v0);
      // block[v][i] = sum_d E[v0+v][d] * W_down[d][i]
      for (let v = 0; v < nv; v++) {
        const eo = rows[v0 + v]! * dim;
        for (let i = 0; i < hidden; i++) {
          const ro = i * dim;
          let s = 0;
          for (let d = 0; d < dim; d++) s += E[eo + d]! * downT[ro + d]!;
          block[v * hidden + i] = s;
        }
      }
      for (let v = 0; v < nv; v++) {
        for (let i = 0; i < hidden; i++) {
          const a = Math.abs(block[v * hidden + i]!);
          if (a > mx[i]!) mx[i] = a;
          sum[i] = sum[i]! + a;
        }
      }
    }
    gMax.push(mx);
    gMean.push(Float32Array.from(sum, (s) => s / vocab));
    onLayer?.(l + 1, config.nLayers);
  }
  return { gMax, gMean };
}

/** L2 norm of each W_down column: neuron j's real reach into the residual stream. */
export function downColumnNorms(config: ModelConfig, weights: ModelWeights | EngineWeights, ffn?: FfnBundles[]): Float32Array[] {
  const { dim, hiddenDim: hidden } = config;
  const downT = new Float32Array(hidden * dim);
  return weights.layers.map((_, l) => {
    downTransposed(config, weights, l, downT, ffn);
    const n = new Float64Array(hidden);
    for (let j = 0; j < hidden; j++) for (let d = 0, o = j * dim; d < dim; d++) n[j] = n[j]! + downT[o + d]! ** 2;
    return Float32Array.from(n, Math.sqrt);
  });
}
