/**
 * Optional observers of the forward pass. DART's tracer attaches here.
 * Arrays are scratch buffers reused by the next call: copy what you keep.
 * `pos` is the position of the token being processed.
 */
export interface ForwardHooks {
  /** Residual stream entering layer `layer`'s FFN block, before its RMSNorm (length dim). */
  ffnInput?(layer: number, pos: number, residual: Float32Array): void;
  /**
   * FFN intermediate activation SiLU(gate) * up, the input of down_proj (length hiddenDim).
   * When the layer runs compacted, only kept neurons are set; `kept` lists them (else null).
   */
  ffnActivation?(layer: number, pos: number, act: Float32Array, kept: Int32Array | null): void;
  /** FFN block output (down_proj output, length dim). */
  ffnOutput?(layer: number, pos: number, out: Float32Array): void;
  /** Attention block output after o_proj (length dim); DART reads the last layer's. */
  attnOutput?(layer: number, pos: number, out: Float32Array): void;
}
