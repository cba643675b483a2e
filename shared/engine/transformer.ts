// The Llama forward pass, one token at a time, read top to bottom like llama2.c's run.c:
// embedding -> per layer [RMSNorm, QKV, RoPE, grouped-query attention with KV cache,
// o_proj, residual, RMSNorm, SwiGLU FFN (dense or compacted), residual] -> RMSNorm -> classifier.
import { headDim, kvDim, type ModelConfig } from "../model/config.ts";
import type { LoadedModel, ModelWeights } from "../model/weights.ts";
import type { CompactFfn } from "./compact-ffn.ts";
import type { ForwardHooks } from "./hooks.ts";
import { matvec, rmsnorm, silu, softmax } from "./kernels.ts";

export class ContextLengthError extends Error {
  constructor(pos: number, seqLen: number) {
    super(`position ${pos} is past the model's context length of ${seqLen} tokens`);
    this.name = "ContextLengthError";
  }
}

/** Per-sequence state: KV cache, scratch buffers and the FFN in force per layer. */
export class InferenceState {
  readonly keyCache: Float32Array; // layer x seqLen x kvDim
  readonly valueCache: Float32Array;
  readonly x: Float32Array; // residual stream
  readonly xb: Float32Array;
  readonly xb2: Float32Array;
  readonly q: Float32Array;
  readonly hb: Float32Array; // FFN gate / activation
  readonly hb2: Float32Array; // FFN up
  readonly att: Float32Array; // attention scores for one head
  readonly logits: Float32Array;
  /** Per layer: null runs the dense FFN, a CompactFfn runs only its kept neurons. */
  readonly ffn: (CompactFfn | null)[];

  constructor(c: ModelConfig) {
    const kv = kvDim(c);
    this.keyCache = new Float32Array(c.nLayers * c.seqLen * kv);
    this.valueCache = new Float32Array(c.nLayers * c.seqLen * kv);
    this.x = new Float32Array(c.dim);
    this.xb = new Float32Array(c.dim);
    this.xb2 = new Float32Array(c.dim);
    this.q = new Float32Array(c.dim);
    this.hb = new Float32Array(c.hiddenDim);
    this.hb2 = new Float32Array(c.hiddenDim);
    this.att = new Float32Array(c.seqLen);
    this.logits = new Float32Array(c.vocabSize);
    this.ffn = new Array(c.nLayers).fill(null);
  }

  /** Bytes held by the KV cache. */
  get kvBytes(): number {
    return this.keyCache.byteLength + this.valueCache.byteLength;
  }
}

export class Transformer {
  readonly config: ModelConfig;
  readonly weights: ModelWeights;
  private readonly ropeCos: Float32Array; // seqLen x headDim/2
  private readonly ropeSin: Float32Array;

  constructor(model: Pick<LoadedModel, "config" | "weights">) {
    this.config = model.config;
    this.weights = model.weights;
    const c = model.config;
    const half = headDim(c) / 2;
    this.ropeCos = new Float32Array(c.seqLen * half);
    this.ropeSin = new Float32Array(c.seqLen * half);
    for (let p = 0; p < c.seqLen; p++) {
      for (let i = 0; i < half; i++) {
        const angle = p * Math.pow(c.ropeTheta, -(2 * i) / headDim(c));
        this.ropeCos[p * half + i] = Math.cos(angle);
        this.ropeSin[p * half + i] = Math.sin(angle);
      }
    }
  }

  newState(): InferenceState {
    return new InferenceState(this.config);
  }

  /** Runs token `token` at position `pos` (the cache must hold positions 0..pos-1) and returns the logits. */
  forward(s: InferenceState, token: number, pos: number, hooks?: ForwardHooks): Float32Array {
    const c = this.config;
    const w = this.weights;
    const { dim, hiddenDim: hidden, seqLen } = c;
    if (pos < 0 || pos >= seqLen) throw new ContextLengthError(pos, seqLen);
    if (!(token >= 0 && token < c.vocabSize)) throw new RangeError(`token id ${token} out of range 0..${c.vocabSize - 1}`);
    const kv = kvDim(c);
    const hs = headDim(c);
    const half = hs / 2;
    const kvMul = c.nHeads / c.nKvHeads;
    const x = s.x;
    x.set(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));

    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!;
      // --- attention ---
      rmsnorm(s.xb, x, lw.attnNorm, c.normEps);
      const cacheBase = l * seqLen * kv;
      const k = s.keyCache.subarray(cacheBase + pos * kv, cacheBase + (pos + 1) * kv);
      const v = s.valueCache.subarray(cacheBase + pos * kv, cacheBase + (pos + 1) * kv);
      matvec(s.q, s.xb, lw.wq, dim, dim);
      matvec(k, s.xb, lw.wk, dim, kv);
      matvec(v, s.xb, lw.wv, dim, kv);
      // RoPE on adjacent pairs (Meta's layout, which llama2.c and llama.cpp GGUF files use).
      for (let i = 0; i < dim; i += 2) {
        const r = pos * half + ((i % hs) >> 1);
        const cos = this.ropeCos[r]!, sin = this.ropeSin[r]!;
        const q0 = s.q[i]!, q1 = s.q[i + 1]!;
        s.q[i] = q0 * cos - q1 * sin;
        s.q[i + 1] = q0 * sin + q1 * cos;
        if (i < kv) {
          const k0 = k[i]!, k1 = k[i + 1]!;
          k[i] = k0 * cos - k1 * sin;
          k[i + 1] = k0 * sin + k1 * cos;
        }
      }
      const scale = 1 / Math.sqrt(hs);
      for (let h = 0; h < c.nHeads; h++) {
        const qo = h * hs;
        const kvo = ((h / kvMul) | 0) * hs;
        const att = s.att;
        for (let t = 0; t <= pos; t++) {
          const ko = cacheBase + t * kv + kvo;
          let score = 0;
          for (let i = 0; i < hs; i++) score += s.q[qo + i]! * s.keyCache[ko + i]!;
          att[t] = score * scale;
        }
        softmax(att, pos + 1);
        const xb = s.xb;
        xb.fill(0, qo, qo + hs);
        for (let t = 0; t <= pos; t++) {
          const a = att[t]!;
          const vo = cacheBase + t * kv + kvo;
          for (let i = 0; i < hs; i++) xb[qo + i] = xb[qo + i]! + a * s.valueCache[vo + i]!;
        }
      }
      matvec(s.xb2, s.xb, lw.wo, dim, dim);
      hooks?.attnOutput?.(l, pos, s.xb2);
      for (let i = 0; i < dim; i++) x[i] = x[i]! + s.xb2[i]!;

      // --- feed-forward ---
      hooks?.ffnInput?.(l, pos, x);
      rmsnorm(s.xb, x, lw.ffnNorm, c.normEps);
      const compact = s.ffn[l];
      if (!compact) {
        matvec(s.hb, s.xb, lw.wGate, dim, hidden);
        matvec(s.hb2, s.xb, lw.wUp, dim, hidden);
        for (let i = 0; i < hidden; i++) s.hb[i] = silu(s.hb[i]!) * s.hb2[i]!;
        hooks?.ffnActivation?.(l, pos, s.hb, null);
        matvec(s.xb2, s.hb, lw.wDown, hidden, dim);
      } else {
        this.compactFfn(compact, s, dim);
        hooks?.ffnActivation?.(l, pos, s.hb.subarray(0, compact.kept.length), compact.kept);
      }
      hooks?.ffnOutput?.(l, pos, s.xb2);
      for (let i = 0; i < dim; i++) x[i] = x[i]! + s.xb2[i]!;
    }

    rmsnorm(x, x, w.finalNorm, c.normEps);
    matvec(s.logits, x, w.classifier, dim, c.vocabSize);
    return s.logits;
  }

  /** FFN over kept neurons only: s.xb (normed input) -> s.xb2 (output); activations land in s.hb[0..k). */
  private compactFfn(f: CompactFfn, s: InferenceState, dim: number): void {
    const k = f.kept.length;
    const xb = s.xb;
    matvec(s.hb, xb, f.gate, dim, k);
    matvec(s.hb2, xb, f.up, dim, k);
    const out = s.xb2;
    if (f.bias) out.set(f.bias);
    else out.fill(0);
    for (let i = 0; i < k; i++) {
      const a = silu(s.hb[i]!) * s.hb2[i]!;
      s.hb[i] = a;
      const row = i * dim;
      for (let d = 0; d < dim; d++) out[d] = out[d]! + a * f.downT[row + d]!;
    }
  }
}
