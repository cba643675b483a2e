// The WASM SIMD backend. Weights are adopted into WASM memory once (or loaded
// there directly through alloc); the per-call traffic is only the input and
// output vectors (copied when they live in a different segment than the weights)
// and an FFN's slot list. FFN weights are neuron-major bundles (../ffn-bundles.ts):
// the Transformer's are allocated here; bundles built elsewhere (e.g. from shard
// bytes) are uploaded the first time they run into a recycled block, and their
// `data` is rebound to it, so they are held once, in WASM memory.
import type { CompactFfn } from "../compact-ffn.ts";
import type { FfnBundles } from "../ffn-bundles.ts";
import * as ref from "../kernels.ts";
import type { AttentionShape } from "../kernels.ts";
import type { Backend } from "./backend.ts";
import { SLOT_FLOATS, WasmArena, type Segment } from "./wasm-arena.ts";
import { kernelsModule, type WasmModule } from "./wasm-module.ts";
import type { Q8KernelExports } from "./wasm-kernels-q8.ts";
import { allocQ8, QK, type Q8Matrix } from "../../model/q8.ts";
import { q8Matmul, q8Matvec } from "../q8-kernels.ts";

interface Block {
  seg: Segment;
  off: number; // bytes
  bytes: number;
  owner: WeakRef<FfnBundles> | null;
  lastUse: number;
}

export interface WasmBackendOptions {
  /** Size of each WASM memory segment (default 1 GiB; capped just under 4 GiB). */
  segmentBytes?: number;
  /** Uploaded FFN bundles kept resident before the least recently used is evicted (default 4 GiB). */
  compactBudgetBytes?: number;
  module?: WasmModule;
  /** Shared memories, so worker threads can share the work (see cli/wasm-threads.ts). */
  shared?: boolean;
}

export const [SLOT_X, SLOT_OUT, SLOT_H1, SLOT_H2, SLOT_ACC, SLOT_IDX] = [0, 1, 2, 3, 4, 5];

export class WasmBackend implements Backend {
  readonly name: string = "wasm";
  readonly arena: WasmArena;
  private readonly blocks: Block[] = [];
  private readonly resident = new WeakMap<FfnBundles, Block>();
  private readonly compactBudget: number;
  private clock = 0;

  constructor(opts: WasmBackendOptions = {}) {
    const mod = opts.module ?? kernelsModule(opts.shared);
    if (!mod) throw new Error("WebAssembly SIMD kernels are not available in this runtime");
    this.arena = new WasmArena(mod, opts.segmentBytes ?? 1 << 30, opts.shared);
    this.compactBudget = opts.compactBudgetBytes ?? 4 * 2 ** 30;
  }

  alloc(n: number): Float32Array {
    return this.arena.alloc(n);
  }

  free(a: Float32Array): void {
    this.arena.free(a);
  }

  adopt(a: Float32Array): Float32Array {
    if (this.arena.segmentOf(a)) return a;
    const out = this.alloc(a.length);
    out.set(a);
    return out;
  }

  /** Byte offset of v[0..n) inside seg: in place when it lives there, else copied into a scratch slot. */
  protected input(seg: Segment, v: Float32Array, n: number, slot: number): number {
    if (v.buffer === seg.buffer) return v.byteOffset;
    const off = seg.slot(slot);
    seg.f32.set(n === v.length ? v : v.subarray(0, n), off >> 2);
    return off;
  }

  /** Byte offset where a kernel should write `v`'s n floats: in place, or a scratch slot to copy back from. */
  protected output(seg: Segment, v: Float32Array, slot: number): number {
    return v.buffer === seg.buffer ? v.byteOffset : seg.slot(slot);
  }

  protected copyBack(seg: Segment, v: Float32Array, off: number, n: number): void {
    if (v.buffer !== seg.buffer) v.set(seg.f32.subarray(off >> 2, (off >> 2) + n));
  }

  /** Byte offset of a slot list copied into seg's index slot. */
  protected slotList(seg: Segment, slots: Int32Array): number {
    const off = seg.slot(SLOT_IDX);
    seg.i32.set(slots, off >> 2);
    return off;
  }

  /** Whether the WASM kernels can run an FFN of k neurons (else the reference kernels do). */
  protected fits(k: number, dim: number): boolean {
    return dim % 4 === 0 && k <= SLOT_FLOATS && dim <= SLOT_FLOATS;
  }

  matvec(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
    const seg = this.arena.segmentOf(w);
    if (!seg || n % 4 !== 0 || n > SLOT_FLOATS || d > SLOT_FLOATS) return ref.matvec(out, x, w, n, d);
    const xo = this.input(seg, x, n, SLOT_X);
    const oo = this.output(seg, out, SLOT_OUT);
    seg.kernels.matvec(oo, xo, w.byteOffset, n, d);
    this.copyBack(seg, out, oo, d);
  }

  adoptQ8(m: Q8Matrix): Q8Matrix {
    const f = new Float32Array(m.d.buffer, m.d.byteOffset, m.d.length);
    if (this.arena.segmentOf(f) && m.q.buffer === m.d.buffer) return m;
    const out = allocQ8(m.rows, m.cols, (n) => this.alloc(n));
    out.q.set(m.q);
    out.d.set(m.d);
    return out;
  }

  /**
   * x (ntok rows of n) quantized per block of 32 by the q8_quantize kernel into the upper half of
   * seg's SLOT_ACC (the lower half stays free for partial sums): int16s, then the f32 scales.
   */
  protected quantizedInput(seg: Segment, x: Float32Array, n: number, ntok = 1): { x16: number; xd: number } {
    const xo = this.input(seg, x, n * ntok, SLOT_X);
    const x16 = seg.slot(SLOT_ACC) + SLOT_FLOATS * 2;
    const xd = x16 + n * ntok * 2;
    seg.kernels.q8_quantize(xo, n * ntok, x16, xd);
    return { x16, xd };
  }

  /**
   * After quantizedInput's scales (ntok tokens of n/32), each group of four tokens' scales side by
   * side per block (q8_rows_tokens' xdT): its byte offset.
   */
  protected groupScales(seg: Segment, xd: number, n: number, ntok: number): number {
    const nb = n / QK, xdT = xd + ntok * nb * 4;
    const f = seg.f32, src = xd >> 2, dst = xdT >> 2;
    for (let g = 0; g < ntok >> 2; g++) {
      for (let b = 0; b < nb; b++) for (let j = 0; j < 4; j++) f[dst + (g * nb + b) * 4 + j] = f[src + (4 * g + j) * nb + b]!;
    }
    return xdT;
  }

  /** Whether a Q8_0 input of ntok rows of n (with its grouped scales) fits quantizedInput's half slot. */
  protected q8InputFits(n: number, ntok = 1): boolean {
    return n * ntok * 2 + (n * ntok) / 4 <= SLOT_FLOATS * 2 && n * ntok <= SLOT_FLOATS;
  }

  matvecQ8(out: Float32Array, x: Float32Array, w: Q8Matrix): void {
    const seg = this.arena.segmentOf(w.d);
    const { rows: d, cols: n } = w;
    if (!seg || w.q.buffer !== seg.buffer || !this.q8InputFits(n) || d > SLOT_FLOATS) return q8Matvec(out, x, w);
    const { x16, xd } = this.quantizedInput(seg, x, n);
    const oo = this.output(seg, out, SLOT_OUT);
    this.runQ8Rows(seg, oo, x16, xd, w, this.slotList(seg, iota((d + 1) >> 1)));
    this.copyBack(seg, out, oo, d);
  }

  /** out (byte offset oo) = w x for x quantized at x16/xd; io lists 0, 1, ... (at least (rows + 1) / 2 of them). */
  protected runQ8Rows(seg: Segment, oo: number, x16: number, xd: number, w: Q8Matrix, io: number): void {
    for (const args of q8RowCalls(oo, x16, xd, w, io, 0, w.rows)) seg.kernels.q8_dots2(...args);
  }

  /** q8_dots (gate and up rows of the listed slots): `args` as the kernel takes them. */
  protected runQ8Dots(seg: Segment, args: Q8DotsArgs): void {
    seg.kernels.q8_dots(...args);
  }

  /** q8_accum (down columns of the listed slots, for ntok tokens): `args` as the kernel takes them. */
  protected runQ8Accum(seg: Segment, args: Q8AccumArgs): void {
    seg.kernels.q8_accum(...args);
  }

  /** q8_rows_tokens (listed rows by ntok quantized tokens, prefill): `args` as the kernel takes them. */
  protected runQ8RowsTokens(seg: Segment, args: Q8RowsTokensArgs): void {
    seg.kernels.q8_rows_tokens(...args);
  }

  /** matvecQ8 for ntok tokens (prefill): x ntok rows of w.cols, out ntok rows of w.rows. */
  matmulQ8(out: Float32Array, x: Float32Array, w: Q8Matrix, ntok: number): void {
    const seg = this.arena.segmentOf(w.d);
    const { rows: d, cols: n } = w;
    if (ntok === 1) return this.matvecQ8(out, x, w);
    if (!seg || w.q.buffer !== seg.buffer || !this.q8InputFits(n, ntok) || d * ntok > SLOT_FLOATS) return q8Matmul(out, x, w, ntok);
    const { x16, xd } = this.quantizedInput(seg, x, n, ntok);
    const oo = this.output(seg, out, SLOT_OUT);
    const xdT = this.groupScales(seg, xd, n, ntok);
    this.runQ8RowsTokens(seg, [oo, d, x16, xd, xdT, n, ntok, w.q.byteOffset, w.d.byteOffset, this.slotList(seg, iota(d)), d, n, (n / QK) * 4]);
    this.copyBack(seg, out, oo, d * ntok);
  }

  /** compactFfnQ8 for ntok tokens: each gate and up row and each down column read once per block of tokens. */
  protected compactFfnBatchQ8(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number, ntok: number): void {
    const k = f.slots.length;
    const seg = this.upload(f.bundles);
    const { q, d } = f.bundles.q8;
    const io = this.slotList(seg, f.slots);
    const { x16, xd } = this.quantizedInput(seg, x, dim, ntok);
    const h1 = this.output(seg, hb, SLOT_H1);
    const h2 = this.output(seg, hb2, SLOT_H2);
    const rowBytes = (dim / QK) * 4;
    const xdT = this.groupScales(seg, xd, dim, ntok);
    this.runQ8RowsTokens(seg, [h1, k, x16, xd, xdT, dim, ntok, q.byteOffset, d.byteOffset, io, k, 3 * dim, 3 * rowBytes]);
    this.runQ8RowsTokens(seg, [h2, k, x16, xd, xdT, dim, ntok, q.byteOffset + dim, d.byteOffset + rowBytes, io, k, 3 * dim, 3 * rowBytes]);
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k * ntok);
    const oo = this.output(seg, out, SLOT_OUT);
    this.runQ8Accum(seg, [oo, h1, k, ntok, q.byteOffset + 2 * dim, d.byteOffset + 2 * rowBytes, io, k, dim, 3 * dim, 3 * rowBytes]);
    if (f.bias) for (let t = 0; t < ntok; t++) addInto(seg.f32, (oo >> 2) + t * dim, f.bias, dim);
    this.copyBack(seg, hb, h1, k * ntok);
    this.copyBack(seg, out, oo, dim * ntok);
  }

  /** q8_ffn (one token's whole FFN over the listed slots): `args` as the kernel takes them. */
  protected runQ8Ffn(seg: Segment, args: Q8FfnArgs): void {
    seg.kernels.q8_ffn(...args);
  }

  /**
   * The Q8_0 FFN: gate and up rows by integer dots against the quantized x, down columns scaled in
   * f32. A mask (fewer slots than neurons) runs as one q8_ffn sweep per kept bundle (scattered
   * bundles read whole, no gaps: faster); the dense FFN as q8_dots, SiLU, q8_accum (as fast or faster).
   */
  protected compactFfnQ8(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
    const k = f.slots.length;
    const seg = this.upload(f.bundles);
    const { q, d } = f.bundles.q8;
    const io = this.slotList(seg, f.slots);
    const { x16, xd } = this.quantizedInput(seg, x, dim);
    const h1 = this.output(seg, hb, SLOT_H1);
    if (k < f.bundles.hiddenDim) {
      const oo = this.output(seg, out, SLOT_OUT);
      this.runQ8Ffn(seg, [oo, h1, x16, xd, q.byteOffset, d.byteOffset, io, k, dim]);
      if (f.bias) addInto(seg.f32, oo >> 2, f.bias, dim);
      this.copyBack(seg, hb, h1, k);
      this.copyBack(seg, out, oo, dim);
      return;
    }
    const h2 = this.output(seg, hb2, SLOT_H2);
    const rowBytes = (dim / QK) * 4;
    this.runQ8Dots(seg, [h1, h2, x16, xd, q.byteOffset, d.byteOffset, io, k, dim, 3 * dim, 3 * rowBytes, 2]);
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k);
    const oo = this.output(seg, out, SLOT_OUT);
    this.runQ8Accum(seg, [oo, h1, k, 1, q.byteOffset + 2 * dim, d.byteOffset + 2 * rowBytes, io, k, dim, 3 * dim, 3 * rowBytes]);
    if (f.bias) addInto(seg.f32, oo >> 2, f.bias, dim);
    this.copyBack(seg, hb, h1, k);
    this.copyBack(seg, out, oo, dim);
  }

  matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, ntok: number): void {
    const seg = this.arena.segmentOf(w);
    if (!seg || n % 4 !== 0 || n > SLOT_FLOATS || d > SLOT_FLOATS) return ref.matmul(out, x, w, n, d, ntok);
    const most = Math.floor(SLOT_FLOATS / Math.max(n, d));
    if (ntok > most) {
      for (let t = 0; t < ntok; t += most) {
        const m = Math.min(most, ntok - t);
        this.matmul(out.subarray(t * d, (t + m) * d), x.subarray(t * n, (t + m) * n), w, n, d, m);
      }
      return;
    }
    const xo = this.input(seg, x, n * ntok, SLOT_X);
    const oo = this.output(seg, out, SLOT_OUT);
    seg.kernels.rows_dot(oo, d, xo, n, ntok, w.byteOffset, this.slotList(seg, iota(d)), d, n * 4);
    this.copyBack(seg, out, oo, d * ntok);
  }

  attention(out: Float32Array, q: Float32Array, keyCache: Float32Array, valueCache: Float32Array,
    att: Float32Array, layerBase: number, pos: number, a: AttentionShape): void {
    const seg = this.arena.segmentOf(keyCache);
    // The state (KV cache, q, att, out) is one allocation, so it is all in one segment or none.
    if (!seg || a.headSize % 4 !== 0 || [out, q, valueCache, att].some((v) => v.buffer !== seg.buffer)) {
      return ref.attention(out, q, keyCache, valueCache, att, layerBase, pos, a);
    }
    const k = seg.kernels;
    const hs = a.headSize;
    const scale = 1 / Math.sqrt(hs);
    const stride = a.kvDim * 4;
    const n = pos + 1;
    if (a.nHeads * n <= SLOT_FLOATS) {
      // All heads at once, position-major (each cache row read once, in order): scores into
      // a scratch slot, one row of n per head, softmax per head, then the weighted values.
      const scores = seg.slot(SLOT_ACC);
      const offs = this.slotList(seg, headOffsets(a));
      const kb = keyCache.byteOffset + layerBase * 4, vb = valueCache.byteOffset + layerBase * 4;
      k.attn_scores_heads(scores, n, q.byteOffset, kb, stride, hs, n, scale, a.nHeads, offs);
      for (let h = 0; h < a.nHeads; h++) ref.softmax(seg.f32.subarray((scores >> 2) + h * n, (scores >> 2) + (h + 1) * n), n);
      k.attn_mix_heads(out.byteOffset, scores, n, vb, stride, hs, n, a.nHeads, offs);
      return;
    }
    for (let h = 0; h < a.nHeads; h++) {
      const qo = h * hs;
      const kvo = layerBase + ((h / a.kvMul) | 0) * hs;
      k.attn_scores(att.byteOffset, q.byteOffset + qo * 4, keyCache.byteOffset + kvo * 4, stride, hs, pos + 1, scale);
      ref.softmax(att, pos + 1);
      k.attn_mix(out.byteOffset + qo * 4, att.byteOffset, valueCache.byteOffset + kvo * 4, stride, hs, pos + 1);
    }
  }

  compactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
    const k = f.slots.length;
    if (!this.fits(k, dim)) return ref.compactFfn(f, x, hb, hb2, out, dim);
    if (f.bundles.format === "q8_0") return this.q8InputFits(dim) ? this.compactFfnQ8(f, x, hb, hb2, out, dim) : ref.compactFfn(f, x, hb, hb2, out, dim);
    const seg = this.upload(f.bundles);
    const kern = seg.kernels;
    const base = f.bundles.data.byteOffset;
    const io = this.slotList(seg, f.slots);
    const xo = this.input(seg, x, dim, SLOT_X);
    const h1 = this.output(seg, hb, SLOT_H1);
    const h2 = this.output(seg, hb2, SLOT_H2);
    kern.bundle_dots(h1, h2, xo, base, io, k, dim);
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k);
    const oo = this.output(seg, out, SLOT_OUT);
    kern.bundle_accum(oo, h1, base, io, k, dim);
    if (f.bias) addInto(seg.f32, oo >> 2, f.bias, dim);
    this.copyBack(seg, hb, h1, k);
    this.copyBack(seg, out, oo, dim);
  }

  compactFfnBatch(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number, ntok: number): void {
    const k = f.slots.length;
    if (!this.fits(k, dim)) return ref.compactFfnBatch(f, x, hb, hb2, out, dim, ntok);
    // A block's activations must fit a scratch slot: wide FFNs (8B: 14,336 neurons) take the block in parts.
    const most = Math.floor(SLOT_FLOATS / Math.max(k, dim));
    if (ntok > most) {
      for (let t = 0; t < ntok; t += most) {
        const m = Math.min(most, ntok - t);
        const part = (v: Float32Array, w: number) => v.subarray(t * w, (t + m) * w);
        this.compactFfnBatch(f, part(x, dim), part(hb, k), part(hb2, k), part(out, dim), dim, m);
      }
      return;
    }
    if (f.bundles.format === "q8_0") {
      if (!this.q8InputFits(dim, ntok)) return ref.compactFfnBatch(f, x, hb, hb2, out, dim, ntok);
      return this.compactFfnBatchQ8(f, x, hb, hb2, out, dim, ntok);
    }
    const { seg, base, io, xo, h1, h2, stride } = this.ffnBlock(f, x, hb, hb2, dim, ntok);
    const kern = seg.kernels;
    kern.rows_dot(h1, k, xo, dim, ntok, base, io, k, stride);
    kern.rows_dot(h2, k, xo, dim, ntok, base + dim * 4, io, k, stride);
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k * ntok);
    const oo = this.output(seg, out, SLOT_OUT);
    kern.accum_tokens(oo, h1, k, ntok, base, io, k, dim);
    if (f.bias) for (let t = 0; t < ntok; t++) addInto(seg.f32, (oo >> 2) + t * dim, f.bias, dim);
    this.copyBack(seg, hb, h1, k * ntok);
    this.copyBack(seg, out, oo, dim * ntok);
  }

  /** A prefill block's fp32 FFN operands in the bundles' segment: byte offsets of the bundles, slot list, x and h1/h2, and the bundle stride. */
  protected ffnBlock(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, dim: number, ntok: number) {
    const seg = this.upload(f.bundles);
    return {
      seg, base: f.bundles.data.byteOffset, io: this.slotList(seg, f.slots), xo: this.input(seg, x, dim * ntok, SLOT_X),
      h1: this.output(seg, hb, SLOT_H1), h2: this.output(seg, hb2, SLOT_H2), stride: 3 * dim * 4,
    };
  }

  downSum(out: Float32Array, b: FfnBundles, slots: Int32Array, a: Float32Array): void {
    const k = slots.length;
    if (!this.fits(k, b.dim)) return ref.downSum(out, b, slots, a);
    const seg = this.upload(b);
    const io = this.slotList(seg, slots);
    const ao = this.input(seg, a, k, SLOT_H1);
    const oo = this.output(seg, out, SLOT_OUT);
    if (b.format === "q8_0") {
      const { q, d } = b.q8;
      const rowBytes = (b.dim / QK) * 4;
      this.runQ8Accum(seg, [oo, ao, k, 1, q.byteOffset + 2 * b.dim, d.byteOffset + 2 * rowBytes, io, k, b.dim, 3 * b.dim, 3 * rowBytes]);
    } else seg.kernels.bundle_accum(oo, ao, b.data.byteOffset, io, k, b.dim);
    this.copyBack(seg, out, oo, b.dim);
  }

  prepare(f: CompactFfn): void {
    this.upload(f.bundles);
  }

  release(f: CompactFfn): void {
    const b = this.resident.get(f.bundles);
    if (b && b.owner?.deref() === f.bundles) this.evict(b);
  }

  discard(f: CompactFfn): void {
    const b = this.resident.get(f.bundles);
    if (b && b.owner?.deref() === f.bundles) {
      this.resident.delete(f.bundles);
      b.owner = null;
    }
  }

  /** Bytes of WASM memory held by uploaded FFN bundles. */
  get compactResidentBytes(): number {
    return this.blocks.reduce((s, b) => s + (b.owner?.deref() ? b.bytes : 0), 0);
  }

  /** The segment holding `b`'s data, uploading it first (once) when it lives outside WASM memory. */
  protected upload(bundles: FfnBundles): Segment {
    const seg = this.arena.segmentOf(bundles.data);
    const hit = this.resident.get(bundles);
    if (seg && !hit) return seg; // allocated here (the Transformer's own bundles)
    if (hit && hit.owner?.deref() === bundles) {
      hit.lastUse = ++this.clock;
      return hit.seg;
    }
    const n = bundles.data.length;
    const b = this.freeBlock(n * 4);
    const base = b.off >> 2;
    b.seg.f32.set(bundles.data, base);
    bundles.data = b.seg.f32.subarray(base, base + n);
    b.owner = new WeakRef(bundles);
    b.lastUse = ++this.clock;
    this.resident.set(bundles, b);
    return b.seg;
  }

  /** A block of at least `bytes`: a recycled one whose owner is gone or least recently used, else a new one. */
  private freeBlock(bytes: number): Block {
    const free = this.blocks.filter((b) => !b.owner?.deref() && b.bytes >= bytes).sort((a, b) => a.bytes - b.bytes)[0];
    if (free) return free;
    while (this.compactResidentBytes + bytes > this.compactBudget) {
      const lru = this.blocks.filter((b) => b.owner?.deref()).sort((a, b) => a.lastUse - b.lastUse)[0];
      if (!lru) break;
      this.evict(lru);
      if (lru.bytes >= bytes) return lru;
    }
    const { seg, off } = this.arena.take(bytes);
    const b: Block = { seg, off, bytes, owner: null, lastUse: 0 };
    this.blocks.push(b);
    return b;
  }

  /** Gives an owner its weights back as an ordinary array, so the block can be reused. */
  private evict(b: Block): void {
    const owner = b.owner?.deref();
    if (owner) {
      owner.data = owner.data.slice();
      this.resident.delete(owner);
    }
    b.owner = null;
  }
}

const headOffsetCache = new WeakMap<AttentionShape, Int32Array>();
/** Byte offset of each query head's key/value inside a cache row (grouped-query heads share one). */
function headOffsets(a: AttentionShape): Int32Array {
  let offs = headOffsetCache.get(a);
  if (!offs) headOffsetCache.set(a, (offs = Int32Array.from({ length: a.nHeads }, (_, h) => ((h / a.kvMul) | 0) * a.headSize * 4)));
  return offs;
}

export type Q8DotsArgs = Parameters<Q8KernelExports["q8_dots"]>;
export type Q8AccumArgs = Parameters<Q8KernelExports["q8_accum"]>;
export type Q8FfnArgs = Parameters<Q8KernelExports["q8_ffn"]>;
export type Q8RowsTokensArgs = Parameters<Q8KernelExports["q8_rows_tokens"]>;
type Q8Dots2Args = Parameters<Q8KernelExports["q8_dots2"]>;

/**
 * q8_dots2 calls for rows r0..r1 of w into out (byte offset oo): rows r0 + i and r0 + half + i in
 * one pass (two far-apart streams sharing each x load: as fast as one row at a time here, and
 * adjacent rows were 2x slower); an odd last row pairs with itself. io lists 0, 1, ...
 */
export function q8RowCalls(oo: number, x16: number, xd: number, w: Q8Matrix, io: number, r0: number, r1: number): Q8Dots2Args[] {
  const n = w.cols, rowBytes = (n / QK) * 4;
  const m = r1 - r0, half = m >> 1;
  const q = w.q.byteOffset + r0 * n, d = w.d.byteOffset + r0 * rowBytes, o = oo + r0 * 4;
  const calls: Q8Dots2Args[] = [];
  if (half) calls.push([o, o + half * 4, x16, xd, q, d, io, half, n, n, rowBytes, half * n, half * rowBytes]);
  if (m & 1) {
    const last = m - 1;
    calls.push([o + last * 4, o + last * 4, x16, xd, q + last * n, d + last * rowBytes, io, 1, n, n, rowBytes, 0, 0]);
  }
  return calls;
}

const iotas: Int32Array[] = [];
/** 0, 1, ..., n-1 (the slot list of a row-major matrix's rows), cached. */
export function iota(n: number): Int32Array {
  return (iotas[n] ??= Int32Array.from({ length: n }, (_, i) => i));
}

/** m[h1 + i] = SiLU(m[h1 + i]) * m[h2 + i] for i < k (float indices). */
export function swiglu(m: Float32Array, h1: number, h2: number, k: number): void {
  for (let i = h1, j = h2, end = h1 + k; i < end; i++, j++) m[i] = ref.silu(m[i]!) * m[j]!;
}

/** m[o + i] += v[i] for i < n. */
export function addInto(m: Float32Array, o: number, v: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) m[o + i] = m[o + i]! + v[i]!;
}
