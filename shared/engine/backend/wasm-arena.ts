// WASM memory for the kernels. One wasm32 memory holds at most 4 GiB, so the
// arena is a list of segments, each a fixed-size memory with its own instance of
// the kernels module. Memories never grow: growing would detach every
// Float32Array view into them (the model's weights live in such views).
// Allocation is a bump pointer plus an exact-size free list: what is freed is
// inference states (all the same size for one model), and wasm-backend.ts
// recycles compacted FFN blocks itself.
import type { KernelExports } from "./wasm-kernels.ts";
import { wasmApi, type WasmMemory, type WasmModule } from "./wasm-module.ts";

const PAGE = 65536;
const MAX_SEGMENT = 65535 * PAGE; // just under 4 GiB
/** Floats per scratch slot: vectors copied in when they live in another segment. */
export const SLOT_FLOATS = 1 << 18;
const SLOTS = 6;
const SCRATCH_BYTES = SLOTS * SLOT_FLOATS * 4;

export class Segment {
  readonly memory: WasmMemory;
  readonly kernels: KernelExports;
  readonly buffer: ArrayBufferLike;
  readonly f32: Float32Array;
  readonly i32: Int32Array;
  readonly capacity: number;
  used = SCRATCH_BYTES; // scratch slots first, at offsets 0, SLOT_FLOATS*4, ...

  constructor(module: WasmModule, bytes: number, shared = false) {
    const pages = Math.ceil(bytes / PAGE);
    this.memory = new wasmApi.Memory({ initial: pages, maximum: shared ? 65536 : pages, shared });
    this.kernels = new wasmApi.Instance(module, { env: { memory: this.memory } }).exports as unknown as KernelExports;
    this.buffer = this.memory.buffer;
    this.f32 = new Float32Array(this.buffer);
    this.i32 = new Int32Array(this.buffer);
    this.capacity = pages * PAGE;
  }

  /** Byte offset of `bytes` more bytes, 16-aligned, or -1 when full. */
  take(bytes: number): number {
    const off = (this.used + 15) & ~15;
    if (off + bytes > this.capacity) return -1;
    this.used = off + bytes;
    return off;
  }

  /** Byte offset of scratch slot i. */
  slot(i: number): number {
    return i * SLOT_FLOATS * 4;
  }
}

export class WasmArena {
  readonly segments: Segment[] = [];
  private readonly module: WasmModule;
  private readonly segmentBytes: number;
  private readonly shared: boolean;
  /** Called for each new segment (a threaded backend hands it to its worker). */
  onSegment: ((seg: Segment) => void) | null = null;

  /**
   * `segmentBytes`: size of each new segment (raised to fit a bigger request; capped at 4 GiB).
   * `shared`: shared memories (SharedArrayBuffer), which other threads can run kernels on.
   */
  constructor(module: WasmModule, segmentBytes: number, shared = false) {
    this.module = module;
    this.segmentBytes = Math.min(MAX_SEGMENT, Math.max(segmentBytes, 16 << 20));
    this.shared = shared;
  }

  private readonly freed = new Map<number, { seg: Segment; off: number }[]>();

  /** A zeroed region of `bytes` bytes: its segment and byte offset. */
  take(bytes: number): { seg: Segment; off: number } {
    const reuse = this.freed.get(bytes)?.pop();
    if (reuse) {
      reuse.seg.f32.fill(0, reuse.off >> 2, (reuse.off + bytes) >> 2);
      return reuse;
    }
    if (bytes + SCRATCH_BYTES > MAX_SEGMENT) throw new RangeError(`tensor of ${bytes} bytes exceeds one wasm32 memory`);
    for (const seg of this.segments) {
      const off = seg.take(bytes);
      if (off >= 0) return { seg, off };
    }
    const seg = new Segment(this.module, Math.min(MAX_SEGMENT, Math.max(this.segmentBytes, bytes + SCRATCH_BYTES)), this.shared);
    this.segments.push(seg);
    this.onSegment?.(seg);
    return { seg, off: seg.take(bytes) };
  }

  alloc(n: number): Float32Array {
    const { seg, off } = this.take(n * 4);
    return seg.f32.subarray(off >> 2, (off >> 2) + n);
  }

  /** Returns an array from alloc() for reuse by a later allocation of the same size. */
  free(a: Float32Array): void {
    const seg = this.segmentOf(a);
    if (!seg) return;
    const list = this.freed.get(a.byteLength) ?? [];
    list.push({ seg, off: a.byteOffset });
    this.freed.set(a.byteLength, list);
  }

  /** The segment whose memory backs `a`, if any. */
  segmentOf(a: Float32Array): Segment | undefined {
    for (const s of this.segments) if (s.buffer === a.buffer) return s;
    return undefined;
  }

  /** Bytes reserved in all segments. */
  get reservedBytes(): number {
    return this.segments.reduce((s, g) => s + g.capacity, 0);
  }
}
