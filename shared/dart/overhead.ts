// What DART's tracer costs: state bytes per session and tracer FLOPs per token,
// as a fraction of the dense forward pass. Counted from the shapes, so it works for
// models we cannot run here (Llama-3.1-8B) as well as measured ones.
import { headDim, kvDim, type ModelConfig } from "../model/config.ts";

export const LLAMA_3_1_8B: ModelConfig = {
  dim: 4096, hiddenDim: 14336, nLayers: 32, nHeads: 32, nKvHeads: 8, vocabSize: 128256, seqLen: 8192, ropeTheta: 500000, normEps: 1e-5,
};

export interface TracerOverhead {
  /** Upper bound of the serialised state: accumulators, kept lists, biases, drift vectors. */
  stateBytes: number;
  /** Dense forward FLOPs for one token at context position `pos`. */
  forwardFlops: number;
  /** Tracer FLOPs for one traced token (accumulators, layer importance, drift). */
  tracerFlopsTraced: number;
  /** Tracer FLOPs for one masked token (drift window only). */
  tracerFlopsMasked: number;
  tracedFraction: number;
  maskedFraction: number;
}

export function tracerOverhead(c: ModelConfig, pos = 256, driftWindows = 64): TracerOverhead {
  const L = c.nLayers, H = c.hiddenDim, D = c.dim;
  const kv = kvDim(c);
  const stateBytes =
    L * H * 4 * 2 + // energy and first-moment accumulators (f32)
    L * H * 4 + // kept neuron lists (int32; at most every neuron)
    L * D * 4 + // mean-compensation biases
    L * D * 4 + // traced FFN output sums (dart, while tracing)
    D * 4 * (3 + driftWindows) + // drift: total, current window, baseline, calibration windows
    L * 8 * 2 + // layer importance and flags
    4096; // JSON header
  const matmuls = L * (2 * D * D + 2 * D * kv * 2 + 3 * 2 * D * H) + 2 * D * c.vocabSize;
  const attention = L * c.nHeads * headDim(c) * (pos + 1) * 4;
  const forwardFlops = matmuls + attention;
  // Per traced token: a^2 and a accumulated per neuron (3 FLOPs), importance (~10 per dim per layer), output sums (1), drift (1 per dim).
  const tracerFlopsTraced = L * H * 3 + L * D * 11 + D; // + FFN output sums (1 per dim per layer)
  const tracerFlopsMasked = D;
  return {
    stateBytes, forwardFlops, tracerFlopsTraced, tracerFlopsMasked,
    tracedFraction: tracerFlopsTraced / forwardFlops, maskedFraction: tracerFlopsMasked / forwardFlops,
  };
}
