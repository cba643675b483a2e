// DART's forward proxy: P = W_down^T E^T (hiddenDim x vocab) per layer, reduced to
// g_max[i] = max_v |P[i,v]| and g_mean[i] = mean_v |P[i,v]|. P is never held whole:
// it is streamed in blocks of vocabulary rows, so memory stays hiddenDim x block.
import type { ModelConfig } from "../model/config.ts";
import type { ModelWeights } from "../model/weights.ts";

export interface ForwardProxy {
  gMax: Float32Array[]; // per layer, hiddenDim
  gMean: Float32Array[];
}

export function computeForwardProxy(config: ModelConfig, weights: ModelWeights, vocabBlock = 256): ForwardProxy {
  const { dim, hiddenDim: hidden, vocabSize: vocab } = config;
  const E = weights.tokenEmbedding; // vocab x dim
  const gMax: Float32Array[] = [];
  const gMean: Float32Array[] = [];
  const block = new Float32Array(vocabBlock * hidden);
  const downT = new Float32Array(hidden * dim); // W_down transposed: row i = column i of W_down
  for (const layer of weights.layers) {
    for (let d = 0; d < dim; d++) for (let i = 0; i < hidden; i++) downT[i * dim + d] = layer.wDown[d * hidden + i]!;
    const mx = new Float32Array(hidden);
    const sum = new Float64Array(hidden);
    for (let v0 = 0; v0 < vocab; v0 += vocabBlock) {
      const nv = Math.min(vocabBlock, vocab - v0);
      // block[v][i] = sum_d E[v0+v][d] * W_down[d][i]
      for (let v = 0; v < nv; v++) {
        const eo = (v0 + v) * dim;
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
  }
  return { gMax, gMean };
}

/** L2 norm of each W_down column: neuron j's real reach into the residual stream. */
export function downColumnNorms(config: ModelConfig, weights: ModelWeights): Float32Array[] {
  const { dim, hiddenDim: hidden } = config;
  return weights.layers.map((layer) => {
    const n = new Float64Array(hidden);
    for (let d = 0; d < dim; d++) for (let j = 0; j < hidden; j++) n[j] = n[j]! + layer.wDown[d * hidden + j]! ** 2;
    return Float32Array.from(n, Math.sqrt);
  });
}
