/** Hyper-parameters of a Llama-family model, as read from its file. */
export interface ModelConfig {
  /** Residual stream width. */
  dim: number;
  /** FFN intermediate size (number of FFN neurons per layer). */
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  /** Context length (maximum number of positions). */
  seqLen: number;
  ropeTheta: number;
  normEps: number;
  /**
   * RoPE frequency divisors, one per rotated pair (Llama 3.1's rope_freqs, or linear
   * scaling's factor); absent means 1 for every pair.
   */
  ropeFreqFactors?: number[];
}

export function headDim(c: ModelConfig): number {
  return c.dim / c.nHeads;
}

export function kvDim(c: ModelConfig): number {
  return (c.dim * c.nKvHeads) / c.nHeads;
}

/** Throws a ModelFormatError when the numbers cannot describe a valid model. */
export function validateConfig(c: ModelConfig): void {
  const ints = ["dim", "hiddenDim", "nLayers", "nHeads", "nKvHeads", "vocabSize", "seqLen"] as const;
  for (const k of ints) {
    const v = c[k];
    if (!Number.isInteger(v) || v <= 0) throw new ModelFormatError(`invalid model config: ${k} = ${v}`);
  }
  if (c.dim % c.nHeads !== 0) throw new ModelFormatError(`invalid model config: dim ${c.dim} is not divisible by ${c.nHeads} heads`);
  if (c.nHeads % c.nKvHeads !== 0) {
    throw new ModelFormatError(`invalid model config: ${c.nHeads} heads is not a multiple of ${c.nKvHeads} kv heads`);
  }
  if (headDim(c) % 2 !== 0) throw new ModelFormatError(`invalid model config: head size ${headDim(c)} is odd (RoPE needs pairs)`);
  if (!(c.ropeTheta > 0)) throw new ModelFormatError(`invalid model config: ropeTheta = ${c.ropeTheta}`);
  if (!(c.normEps > 0)) throw new ModelFormatError(`invalid model config: normEps = ${c.normEps}`);
}

/** A model or tokenizer file that cannot be read: truncated, unknown format, wrong shapes. */
export class ModelFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ModelFormatError";
  }
}
