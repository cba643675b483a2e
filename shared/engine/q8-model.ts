// A GGUF model for the Q8_0 engine (--weights q8_0), its q8_0 tensors kept as they are:
// each matrix's int8s are copied from the file's blocks and its f16 scales widened exactly,
// never dequantized. The FFN goes into Q8_0 neuron-major bundles: gate and up rows are rows
// of the file's tensors (their blocks as they are); a down column is a column of W_down,
// whose file blocks run along the other axis, so it is re-blocked (quantized from its
// values along dim), the one place a q8_0 file's weights are requantized. Tensors of other
// types are quantized to Q8_0. The embedding table stays fp32 (one row read per token).
import { kvDim } from "../model/config.ts";
import { GGML_TYPE } from "../model/dtypes.ts";
import { parseGguf, ggufConfig, tensor, type GgufFile } from "../model/gguf.ts";
import { q8FromBlocks, Q8_BLOCK_BYTES, QK, quantizeQ8, type Q8Matrix } from "../model/q8.ts";
import type { EngineWeights } from "./engine-weights.ts";
import { FfnBundles } from "./ffn-bundles.ts";
import type { EngineModel } from "./transformer.ts";

/** A rows x cols matrix (ggml dims [cols, rows]) in Q8_0: the file's blocks when it is q8_0. */
function q8Tensor(file: GgufFile, name: string, cols: number, rows: number, alloc?: (n: number) => Float32Array): Q8Matrix {
  const t = file.tensors.get(name);
  if (t?.type === GGML_TYPE.Q8_0 && t.dims[0] === cols && t.dims[1] === rows) return q8FromBlocks(file.bytes, t.offset, rows, cols, alloc);
  return quantizeQ8(tensor(file, name, [cols, rows]), rows, cols, alloc);
}

export function ggufQ8Model(bytes: Uint8Array, opts: { maxContext?: number; alloc?: (n: number) => Float32Array } = {}): EngineModel {
  const file = parseGguf(bytes);
  const config = ggufConfig(file, opts);
  const { dim, hiddenDim: hidden, vocabSize: vocab } = config;
  const kv = kvDim(config);
  const m = (name: string, cols: number, rows: number) => q8Tensor(file, name, cols, rows, opts.alloc);
  const layers: EngineWeights["layers"] = [];
  const ffn: FfnBundles[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const b = `blk.${l}.`;
    layers.push({
      attnNorm: tensor(file, `${b}attn_norm.weight`, [dim]),
      wq: m(`${b}attn_q.weight`, dim, dim),
      wk: m(`${b}attn_k.weight`, dim, kv),
      wv: m(`${b}attn_v.weight`, dim, kv),
      wo: m(`${b}attn_output.weight`, dim, dim),
      ffnNorm: tensor(file, `${b}ffn_norm.weight`, [dim]),
    });
    ffn.push(q8Bundles(file, b, dim, hidden, opts.alloc));
  }
  const tokenEmbedding = tensor(file, "token_embd.weight", [dim, vocab]);
  const classifier = m(file.tensors.has("output.weight") ? "output.weight" : "token_embd.weight", dim, vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm: tensor(file, "output_norm.weight", [dim]), classifier }, ffn };
}

/** One layer's Q8_0 bundles: gate and up rows from the file's blocks, down columns re-blocked along dim. */
function q8Bundles(file: GgufFile, prefix: string, dim: number, hidden: number, alloc?: (n: number) => Float32Array): FfnBundles {
  const out = new FfnBundles(dim, hidden, hidden, alloc, "q8_0");
  for (let j = 0; j < hidden; j++) out.put(j);
  for (const [part, name] of [[0, "ffn_gate"], [1, "ffn_up"]] as const) {
    const t = file.tensors.get(`${prefix}${name}.weight`);
    if (t?.type === GGML_TYPE.Q8_0 && t.dims[0] === dim && t.dims[1] === hidden) {
      const rowBytes = (dim / QK) * Q8_BLOCK_BYTES;
      for (let j = 0; j < hidden; j++) {
        const row = q8FromBlocks(file.bytes, t.offset + j * rowBytes, 1, dim);
        const dst = out.rowQ8(j, part);
        dst.q.set(row.q);
        dst.d.set(row.d);
      }
    } else {
      const w = tensor(file, `${prefix}${name}.weight`, [dim, hidden]);
      for (let j = 0; j < hidden; j++) out.setRow(j, part, w.subarray(j * dim, (j + 1) * dim));
    }
  }
  const down = tensor(file, `${prefix}ffn_down.weight`, [hidden, dim]); // dim rows of hidden
  const col = new Float32Array(dim);
  for (let j = 0; j < hidden; j++) {
    for (let d = 0; d < dim; d++) col[d] = down[d * hidden + j]!;
    out.setRow(j, 2, col);
  }
  return out;
}
