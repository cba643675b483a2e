// The Llama forward pass, one token at a time, read top to bottom like llama2.c's run.c:
// embedding -> per layer [RMSNorm, QKV, RoPE, grouped-query attention with KV cache,
// o_proj, residual, RMSNorm, SwiGLU FFN (dense or compacted), residual] -> RMSNorm -> classifier.
// The O(n*d) loops (matvec, attention, compacted FFN) run on a pluggable backend (./backend).
import { headDim, kvDim, type ModelConfig } from "../model/config.ts";
import type { LayerWeights, ModelWeights } from "../model/weights.ts";
import { adoptWeights, createBackend, matmulAny, matvecAny, type Backend, type BackendName } from "./backend/index.ts";
import { quantizeEngineWeights, type WeightFormat } from "./quantize-weights.ts";
import type { CompactFfn } from "./compact-ffn.ts";
import type { EngineWeights } from "./engine-weights.ts";
import { FfnBundles } from "./ffn-bundles.ts";
import type { ForwardHooks } from "./hooks.ts";
import { rmsnorm, type AttentionShape } from "./kernels.ts";

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
  /** The one allocation all the buffers above are views of. */
  readonly block: Float32Array;

  /** `alloc` gives the backend's memory; the state is one block so its kernels find it all together. */
  constructor(c: ModelConfig, alloc: (n: number) => Float32Array = (n) => new Float32Array(n)) {
    const kv = kvDim(c);
    const sizes = stateSizes(c);
    const block = (this.block = alloc(sizes.reduce((a, b) => a + b, 0)));
    let off = 0;
    const take = (n: number) => block.subarray(off, (off += n));
    this.keyCache = take(c.nLayers * c.seqLen * kv);
    this.valueCache = take(c.nLayers * c.seqLen * kv);
    this.x = take(c.dim);
    this.xb = take(c.dim);
    this.xb2 = take(c.dim);
    this.q = take(c.dim);
    this.hb = take(c.hiddenDim);
    this.hb2 = take(c.hiddenDim);
    this.att = take(c.seqLen);
    this.logits = take(c.vocabSize);
    this.ffn = new Array(c.nLayers).fill(null);
  }

  /** Bytes held by the KV cache. */
  get kvBytes(): number {
    return this.keyCache.byteLength + this.valueCache.byteLength;
  }
}

// States hold backend memory (WASM memory for "wasm") that the garbage collector cannot
// reclaim by itself: free it once the state and every buffer view of it are collected,
// so a forgotten state cannot be reused under a caller still holding, say, its logits.
interface StateHold {
  backend: Backend;
  block: Float32Array;
  live: number;
  freed: boolean;
}
const stateMemory = new FinalizationRegistry<StateHold>((h) => {
  if (--h.live === 0 && !h.freed) {
    h.freed = true;
    h.backend.free(h.block);
  }
});
const holds = new WeakMap<InferenceState, StateHold>();

function stateSizes(c: ModelConfig): number[] {
  const kv = kvDim(c);
  return [c.nLayers * c.seqLen * kv * 2, c.dim * 4, c.hiddenDim * 2, c.seqLen, c.vocabSize];
}

/**
 * What a Transformer is built from: a loaded model (its FFN matrices are then rebuilt
 * neuron-major in backend memory, and the caller's row-major copies can be dropped), or
 * attention weights plus ready FFN bundles per layer (e.g. a sparse node's partial ones).
 */
export interface EngineModel {
  config: ModelConfig;
  weights: ModelWeights | EngineWeights;
  ffn?: FfnBundles[];
}

export interface TransformerOptions {
  /** Backend name or instance (default: the fastest this runtime supports, see backend/index.ts). */
  backend?: BackendName | Backend;
  /**
   * "q8_0": hold the matrices and the FFN bundles in Q8_0, run by integer kernels (fp32 ones
   * are quantized at load; Q8_0 ones, from a GGUF q8_0 file, are kept as they are). Default:
   * the weights' own format (fp32 unless the model came quantized).
   */
  weights?: WeightFormat;
}

/** Prompt tokens per prefill block: each weight is read from memory once per block. */
export const PREFILL_BLOCK = 64;

export class Transformer {
  readonly config: ModelConfig;
  /** One object per engine, so backends can key per-shape data (the WASM head offsets) on it. */
  private readonly attShape: AttentionShape;
  /** The non-FFN weights as the backend holds them (for "wasm": views of WASM memory). */
  readonly weights: EngineWeights;
  /** Per layer, the FFN neuron-major: the one copy of its weights, dense and compacted runs read it. */
  readonly ffn: FfnBundles[];
  private readonly denseFfn: CompactFfn[] = [];
  readonly backend: Backend;
  private readonly ropeCos: Float32Array; // seqLen x headDim/2
  private readonly ropeSin: Float32Array;

  constructor(model: EngineModel, opts: TransformerOptions = {}) {
    this.config = model.config;
    const c = model.config;
    this.attShape = { nHeads: c.nHeads, kvMul: c.nHeads / c.nKvHeads, headSize: headDim(c), kvDim: kvDim(c) };
    this.backend = typeof opts.backend === "object" ? opts.backend : createBackend(opts.backend, { segmentBytes: arenaHint(model) });
    const alloc = (n: number) => this.backend.alloc(n);
    const format = opts.weights ?? (model.ffn?.[0]?.format ?? "f32");
    this.weights = adoptWeights(this.backend, format === "q8_0" ? quantizeEngineWeights(model.weights, c, alloc) : model.weights);
    this.ffn = model.ffn ?? model.weights.layers.map((l) => {
      if (!("wGate" in l)) throw new TypeError("a model without FFN matrices needs its FFN bundles (model.ffn)");
      return FfnBundles.fromDense(l as LayerWeights, c.dim, c.hiddenDim, alloc, format);
    });
    if (this.ffn.some((b) => b.format !== format)) throw new RangeError(`FFN bundles are not in the ${format} weight format`);
    if (this.ffn.length !== c.nLayers) throw new RangeError(`${this.ffn.length} FFN layers for a model of ${c.nLayers}`);
    const half = headDim(c) / 2;
    this.ropeCos = new Float32Array(c.seqLen * half);
    this.ropeSin = new Float32Array(c.seqLen * half);
    for (let p = 0; p < c.seqLen; p++) {
      for (let i = 0; i < half; i++) {
        const angle = (p * Math.pow(c.ropeTheta, -(2 * i) / headDim(c))) / (c.ropeFreqFactors?.[i] ?? 1);
        this.ropeCos[p * half + i] = Math.cos(angle);
        this.ropeSin[p * half + i] = Math.sin(angle);
      }
    }
  }

  /**
   * A new state in the backend's memory. Its memory goes back to the backend on
   * releaseState(), or else once the state and all its buffers are garbage.
   */
  newState(): InferenceState {
    const s = new InferenceState(this.config, (n) => this.backend.alloc(n));
    const h: StateHold = { backend: this.backend, block: s.block, live: 0, freed: false };
    for (const o of [s, s.keyCache, s.valueCache, s.x, s.xb, s.xb2, s.q, s.hb, s.hb2, s.att, s.logits]) {
      h.live++;
      stateMemory.register(o, h, h);
    }
    holds.set(s, h);
    return s;
  }

  /** Frees a state's backend memory (KV cache, the compacted FFNs installed in it); use neither afterwards. */
  releaseState(s: InferenceState): void {
    for (const f of s.ffn) if (f) this.backend.discard(f);
    const h = holds.get(s);
    if (h && !h.freed) {
      h.freed = true;
      stateMemory.unregister(h);
      this.backend.free(s.block);
    }
  }

  /** Layer l's FFN over every neuron (what a dense token runs); needs the whole layer resident. */
  denseFfnOf(l: number): CompactFfn {
    const b = this.ffn[l]!;
    const slots = b.allSlots();
    const cur = this.denseFfn[l];
    if (cur && cur.slots === slots) return cur;
    const kept = Int32Array.from({ length: b.hiddenDim }, (_, i) => i);
    return (this.denseFfn[l] = { kept, slots, bundles: b, bias: null });
  }


  /** RoPE on adjacent pairs of q (dim) and k (kvDim) at `pos` (Meta's layout, which llama2.c and llama.cpp GGUF files use). */
  private rope(q: Float32Array, k: Float32Array, pos: number): void {
    const hs = headDim(this.config);
    const half = hs / 2;
    const kv = k.length;
    for (let i = 0; i < q.length; i += 2) {
      const r = pos * half + ((i % hs) >> 1);
      const cos = this.ropeCos[r]!, sin = this.ropeSin[r]!;
      const q0 = q[i]!, q1 = q[i + 1]!;
      q[i] = q0 * cos - q1 * sin;
      q[i + 1] = q0 * sin + q1 * cos;
      if (i < kv) {
        const k0 = k[i]!, k1 = k[i + 1]!;
        k[i] = k0 * cos - k1 * sin;
        k[i + 1] = k0 * sin + k1 * cos;
      }
    }
  }

  /** Runs token `token` at position `pos` (the cache must hold positions 0..pos-1) and returns the logits. */
  forward(s: InferenceState, token: number, pos: number, hooks?: ForwardHooks): Float32Array {
    const c = this.config;
    const w = this.weights;
    const be = this.backend;
    const { dim, seqLen } = c;
    if (pos < 0 || pos >= seqLen) throw new ContextLengthError(pos, seqLen);
    if (!(token >= 0 && token < c.vocabSize)) throw new RangeError(`token id ${token} out of range 0..${c.vocabSize - 1}`);
    const kv = kvDim(c);
    const x = s.x;
    x.set(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));

    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!;
      // --- attention ---
      rmsnorm(s.xb, x, lw.attnNorm, c.normEps);
      const cacheBase = l * seqLen * kv;
      const k = s.keyCache.subarray(cacheBase + pos * kv, cacheBase + (pos + 1) * kv);
      const v = s.valueCache.subarray(cacheBase + pos * kv, cacheBase + (pos + 1) * kv);
      matvecAny(be, s.q, s.xb, lw.wq, dim, dim);
      matvecAny(be, k, s.xb, lw.wk, dim, kv);
      matvecAny(be, v, s.xb, lw.wv, dim, kv);
      this.rope(s.q, k, pos);
      be.attention(s.xb, s.q, s.keyCache, s.valueCache, s.att, cacheBase, pos, this.attShape);
      matvecAny(be, s.xb2, s.xb, lw.wo, dim, dim);
      hooks?.attnOutput?.(l, pos, s.xb2);
      for (let i = 0; i < dim; i++) x[i] = x[i]! + s.xb2[i]!;

      // --- feed-forward ---
      hooks?.ffnInput?.(l, pos, x);
      rmsnorm(s.xb, x, lw.ffnNorm, c.normEps);
      const compact = s.ffn[l];
      be.compactFfn(compact ?? this.denseFfnOf(l), s.xb, s.hb, s.hb2, s.xb2, dim);
      if (compact) hooks?.ffnActivation?.(l, pos, s.hb.subarray(0, compact.kept.length), compact.kept);
      else hooks?.ffnActivation?.(l, pos, s.hb, null);
      hooks?.ffnOutput?.(l, pos, s.xb2);
      for (let i = 0; i < dim; i++) x[i] = x[i]! + s.xb2[i]!;
    }

    rmsnorm(x, x, w.finalNorm, c.normEps);
    matvecAny(be, s.logits, x, w.classifier, dim, c.vocabSize);
    return s.logits;
  }

  /**
   * Runs `tokens` at positions pos, pos+1, ... (the cache must hold 0..pos-1) in blocks of
   * PREFILL_BLOCK, each weight matrix read once per block as a matrix-matrix product, and
   * returns the last token's logits. Same results as forward() token by token (to rounding).
   * Hooks get the same calls per token in forward()'s order, but a block's tokens are
   * interleaved layer by layer (observers that accumulate per layer, as DART's tracer, see
   * the same sums). The FFN of each layer is the state's (dense or a mask) for the whole call.
   */
  prefill(s: InferenceState, tokens: readonly number[], pos: number, hooks?: ForwardHooks): Float32Array {
    const c = this.config;
    if (tokens.length === 0) throw new RangeError("nothing to prefill");
    if (pos < 0 || pos + tokens.length > c.seqLen) throw new ContextLengthError(Math.max(pos, c.seqLen), c.seqLen);
    for (const t of tokens) if (!(t >= 0 && t < c.vocabSize)) throw new RangeError(`token id ${t} out of range 0..${c.vocabSize - 1}`);
    const B = Math.min(PREFILL_BLOCK, tokens.length);
    const { dim, hiddenDim } = c;
    const block = this.backend.alloc(B * (4 * dim + 2 * hiddenDim));
    let off = 0;
    const take = (n: number) => block.subarray(off, (off += n));
    const buf = { x: take(B * dim), xb: take(B * dim), ao: take(B * dim), fo: take(B * dim), h1: take(B * hiddenDim), h2: take(B * hiddenDim) };
    try {
      for (let i = 0; i < tokens.length; i += B) this.prefillBlock(s, tokens.slice(i, i + B), pos + i, buf, hooks);
    } finally {
      this.backend.free(block);
    }
    const w = this.weights;
    rmsnorm(s.x, s.x, w.finalNorm, c.normEps);
    matvecAny(this.backend, s.logits, s.x, w.classifier, dim, c.vocabSize);
    return s.logits;
  }

  /** One block of prefill; leaves the last token's residual stream in s.x. */
  private prefillBlock(s: InferenceState, tokens: number[], pos: number,
    buf: { x: Float32Array; xb: Float32Array; ao: Float32Array; fo: Float32Array; h1: Float32Array; h2: Float32Array }, hooks?: ForwardHooks): void {
    const c = this.config;
    const w = this.weights;
    const be = this.backend;
    const { dim, seqLen } = c;
    const kv = kvDim(c);
    const n = tokens.length;
    const row = (a: Float32Array, t: number, width = dim) => a.subarray(t * width, (t + 1) * width);
    const { x, xb, ao, fo, h1, h2 } = buf;
    tokens.forEach((tok, t) => row(x, t).set(w.tokenEmbedding.subarray(tok * dim, (tok + 1) * dim)));

    for (let l = 0; l < c.nLayers; l++) {
      const lw = w.layers[l]!;
      for (let t = 0; t < n; t++) rmsnorm(row(xb, t), row(x, t), lw.attnNorm, c.normEps);
      const cacheBase = l * seqLen * kv;
      const keys = s.keyCache.subarray(cacheBase + pos * kv, cacheBase + (pos + n) * kv);
      const values = s.valueCache.subarray(cacheBase + pos * kv, cacheBase + (pos + n) * kv);
      matmulAny(be, fo, xb, lw.wq, dim, dim, n); // queries (fo is free until the FFN)
      matmulAny(be, keys, xb, lw.wk, dim, kv, n);
      matmulAny(be, values, xb, lw.wv, dim, kv, n);
      for (let t = 0; t < n; t++) {
        // Attention runs on the state's own buffers, which live beside its KV cache.
        s.q.set(row(fo, t));
        this.rope(s.q, row(keys, t, kv), pos + t);
        be.attention(s.xb, s.q, s.keyCache, s.valueCache, s.att, cacheBase, pos + t, this.attShape);
        row(xb, t).set(s.xb);
      }
      matmulAny(be, ao, xb, lw.wo, dim, dim, n);
      for (let i = 0; i < n * dim; i++) x[i] = x[i]! + ao[i]!;

      for (let t = 0; t < n; t++) rmsnorm(row(xb, t), row(x, t), lw.ffnNorm, c.normEps);
      const compact = s.ffn[l];
      const f = compact ?? this.denseFfnOf(l);
      const k = f.slots.length;
      be.compactFfnBatch(f, xb, h1, h2, fo, dim, n);
      if (hooks) {
        for (let t = 0; t < n; t++) {
          hooks.attnOutput?.(l, pos + t, row(ao, t));
          hooks.ffnInput?.(l, pos + t, row(x, t));
          hooks.ffnActivation?.(l, pos + t, row(h1, t, k), compact ? compact.kept : null);
          hooks.ffnOutput?.(l, pos + t, row(fo, t));
        }
      }
      for (let i = 0; i < n * dim; i++) x[i] = x[i]! + fo[i]!;
    }
    s.x.set(row(x, n - 1));
  }
}

/** WASM segment size for a model: its weights (FFN bundles included) and two states. */
function arenaHint(model: EngineModel): number {
  const w = model.weights;
  const size = (t: Float32Array | { q: Int8Array; d: Float32Array }) => (t instanceof Float32Array ? t.length : t.q.length / 4 + t.d.length);
  let floats = w.tokenEmbedding.length + w.finalNorm.length + (w.classifier === w.tokenEmbedding ? 0 : size(w.classifier));
  for (const l of w.layers) for (const [name, t] of Object.entries(l)) if (!/^w(Gate|Up|Down)$/.test(name)) floats += size(t);
  const c = model.config;
  floats += model.ffn ? 0 : c.nLayers * 3 * c.hiddenDim * c.dim;
  const state = stateSizes(c).reduce((a, b) => a + b, 0);
  return (floats + 2 * state) * 4 + (16 << 20);
}
