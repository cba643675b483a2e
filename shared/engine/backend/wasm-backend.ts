// The WASM SIMD backend. Weights are adopted into WASM memory once (or loaded
// there directly through alloc); the per-call traffic is only the input and
// output vectors, copied when they live in a different segment than the weights.
// A compacted FFN is uploaded the first time it runs (after each re-mask) into a
// recycled block, and its gate/up/downT arrays are rebound to views of that block
// so its weights are held once, in WASM memory.
import type { CompactFfn } from "../compact-ffn.ts";
import * as ref from "../kernels.ts";
import type { AttentionShape } from "../kernels.ts";
import type { Backend } from "./backend.ts";
import { SLOT_FLOATS, WasmArena, type Segment } from "./wasm-arena.ts";
import { kernelsModule, type WasmModule } from "./wasm-module.ts";

interface Block {
  seg: Segment;
  off: number; // bytes
  bytes: number;
  owner: WeakRef<CompactFfn> | null;
  lastUse: number;
}

export interface WasmBackendOptions {
  /** Size of each WASM memory segment (default 1 GiB; capped just under 4 GiB). */
  segmentBytes?: number;
  /** Compacted-FFN blocks kept resident before the least recently used is evicted (default 4 GiB). */
  compactBudgetBytes?: number;
  module?: WasmModule;
  /** Shared memories, so worker threads can share the work (see cli/wasm-threads.ts). */
  shared?: boolean;
}

export const [SLOT_X, SLOT_OUT, SLOT_H1, SLOT_H2, SLOT_ACC] = [0, 1, 2, 3, 4];

export class WasmBackend implements Backend {
  readonly name: string = "wasm";
  readonly arena: WasmArena;
  private readonly blocks: Block[] = [];
  private readonly resident = new WeakMap<CompactFfn, Block>();
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

  matvec(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
    const seg = this.arena.segmentOf(w);
    if (!seg || n % 4 !== 0 || n > SLOT_FLOATS || d > SLOT_FLOATS) return ref.matvec(out, x, w, n, d);
    const xo = this.input(seg, x, n, SLOT_X);
    const oo = this.output(seg, out, SLOT_OUT);
    seg.kernels.matvec(oo, xo, w.byteOffset, n, d);
    this.copyBack(seg, out, oo, d);
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
    for (let h = 0; h < a.nHeads; h++) {
      const qo = h * hs;
      const kvo = layerBase + ((h / a.kvMul) | 0) * hs;
      k.attn_scores(att.byteOffset, q.byteOffset + qo * 4, keyCache.byteOffset + kvo * 4, stride, hs, pos + 1, scale);
      ref.softmax(att, pos + 1);
      k.attn_mix(out.byteOffset + qo * 4, att.byteOffset, valueCache.byteOffset + kvo * 4, stride, hs, pos + 1);
    }
  }

  compactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
    const k = f.kept.length;
    if (dim % 4 !== 0 || k > SLOT_FLOATS || dim > SLOT_FLOATS) return ref.compactFfn(f, x, hb, hb2, out, dim);
    const b = this.upload(f);
    const seg = b.seg;
    const kern = seg.kernels;
    const xo = this.input(seg, x, dim, SLOT_X);
    const h1 = this.output(seg, hb, SLOT_H1);
    const h2 = this.output(seg, hb2, SLOT_H2);
    kern.matvec(h1, xo, f.gate.byteOffset, dim, k);
    kern.matvec(h2, xo, f.up.byteOffset, dim, k);
    const m = seg.f32;
    for (let i = h1 >> 2, j = h2 >> 2, end = (h1 >> 2) + k; i < end; i++, j++) m[i] = ref.silu(m[i]!) * m[j]!;
    const oo = this.output(seg, out, SLOT_OUT);
    kern.accum_rows(oo, h1, f.downT.byteOffset, k, dim);
    if (f.bias) for (let i = oo >> 2, j = 0; j < dim; i++, j++) m[i] = m[i]! + f.bias[j]!;
    this.copyBack(seg, hb, h1, k);
    this.copyBack(seg, out, oo, dim);
  }

  prepare(f: CompactFfn): void {
    this.upload(f);
  }

  release(f: CompactFfn): void {
    const b = this.resident.get(f);
    if (b && b.owner?.deref() === f) this.evict(b);
  }

  discard(f: CompactFfn): void {
    const b = this.resident.get(f);
    if (b && b.owner?.deref() === f) {
      this.resident.delete(f);
      b.owner = null;
    }
  }

  /** Bytes of WASM memory held by resident compacted FFNs. */
  get compactResidentBytes(): number {
    return this.blocks.reduce((s, b) => s + (b.owner?.deref() ? b.bytes : 0), 0);
  }

  /** Makes f's weights resident (once per CompactFfn) and rebinds its arrays to the resident copy. */
  protected upload(f: CompactFfn): Block {
    const hit = this.resident.get(f);
    if (hit && hit.owner?.deref() === f) {
      hit.lastUse = ++this.clock;
      return hit;
    }
    const n = f.gate.length;
    const bytes = 3 * n * 4;
    const b = this.freeBlock(bytes);
    const base = b.off >> 2;
    const m = b.seg.f32;
    m.set(f.gate, base);
    m.set(f.up, base + n);
    m.set(f.downT, base + 2 * n);
    f.gate = m.subarray(base, base + n);
    f.up = m.subarray(base + n, base + 2 * n);
    f.downT = m.subarray(base + 2 * n, base + 3 * n);
    b.owner = new WeakRef(f);
    b.lastUse = ++this.clock;
    this.resident.set(f, b);
    return b;
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

  /** Gives an owner its weights back as ordinary arrays, so the block can be reused. */
  private evict(b: Block): void {
    const f = b.owner?.deref();
    if (f) {
      f.gate = f.gate.slice();
      f.up = f.up.slice();
      f.downT = f.downT.slice();
      this.resident.delete(f);
    }
    b.owner = null;
  }
}
