// A shard layout from activations: order each layer's FFN neurons by activation L2
// over a generic text (dense), strongest first, so that neurons masks tend to keep
// share shards. Layout only: every computed value stays the same.
import type { Transformer } from "../engine/transformer.ts";

export function activationOrder(tf: Transformer, tokens: number[]): Int32Array[] {
  const { nLayers, hiddenDim, seqLen } = tf.config;
  const acc = Array.from({ length: nLayers }, () => new Float64Array(hiddenDim));
  const state = tf.newState();
  const hooks = {
    ffnActivation(l: number, _pos: number, act: Float32Array) {
      const a = acc[l]!;
      for (let i = 0; i < hiddenDim; i++) a[i] = a[i]! + act[i]! * act[i]!;
    },
  };
  tokens.slice(0, seqLen).forEach((t, pos) => tf.forward(state, t, pos, hooks));
  return acc.map((a) => Int32Array.from(Array.from({ length: hiddenDim }, (_, i) => i).sort((x, y) => a[y]! - a[x]! || x - y)));
}
