// Two-thread WASM backend for Node ("wasm-mt"): the weights live in shared WASM
// memories; a worker_threads helper runs half of each big kernel call on them
// (rows of a matvec or a prefill block's matmul, half of an FFN's neuron slots, half of
// a prefill block's tokens in the down projection) while the
// main thread runs the other half. Handshakes go through Atomics on a shared
// control block: a few microseconds, against hundreds for the calls it splits.
// Node-only (worker_threads); workerd runs the single-threaded "wasm" backend.
import { MessageChannel, Worker } from "node:worker_threads";
import type { CompactFfn } from "../shared/engine/compact-ffn.ts";
import type { Q8Matrix } from "../shared/model/q8.ts";
import { SLOT_FLOATS, type Segment } from "../shared/engine/backend/wasm-arena.ts";
import { addInto, iota, q8RowCalls, SLOT_ACC, SLOT_H1, SLOT_H2, SLOT_OUT, SLOT_X, swiglu, WasmBackend, type Q8AccumArgs, type Q8DotsArgs, type Q8FfnArgs, type Q8RowsTokensArgs, type WasmBackendOptions } from "../shared/engine/backend/wasm-backend.ts";
import { kernelsModule } from "../shared/engine/backend/wasm-module.ts";
import { CONTROL_BYTES, OP, SLOT } from "./wasm-threads-protocol.ts";


export class ThreadedWasmBackend extends WasmBackend {
  override readonly name = "wasm-mt";
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
  private readonly worker: Worker;
  private readonly port: MessageChannel["port1"];
  private seq = 0;
  /** 1 runs everything on the calling thread (the plain "wasm" path on the same memory), 2 splits. */
  threads = 2;
  /** Calls smaller than this (weights, floats) stay on one thread: the handshake would cost more. */
  private readonly minSplit: number;

  constructor(opts: WasmBackendOptions & { minSplit?: number } = {}) {
    super({ ...opts, shared: true });
    this.minSplit = opts.minSplit ?? 1 << 16;
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.worker = new Worker(new URL("./wasm-threads-worker.ts", import.meta.url), {
      workerData: { control: this.ctrl.buffer, port: channel.port2, module: kernelsModule(true) },
      transferList: [channel.port2],
    });
    this.worker.unref(); // an idle helper must not keep the process alive
    for (const seg of this.arena.segments) this.addSegment(seg);
    this.arena.onSegment = (seg) => this.addSegment(seg);
  }

  private addSegment(seg: Segment): void {
    this.port.postMessage(seg.memory);
    this.post(OP.segment, 0, []);
    this.join();
  }

  private post(op: number, segment: number, args: number[]): void {
    const c = this.ctrl;
    c[SLOT.op] = op;
    c[SLOT.segment] = segment;
    args.forEach((v, i) => (c[SLOT.args + i] = v));
    Atomics.store(c, SLOT.seq, ++this.seq);
    Atomics.notify(c, SLOT.seq);
  }

  private join(): void {
    // The helper usually finishes about when we do: spin (a millisecond or so), then sleep (on a busy machine it may be descheduled).
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(this.ctrl, SLOT.done);
      if (done === this.seq) return;
      if (spins > 1 << 20) Atomics.wait(this.ctrl, SLOT.done, done, 10);
    }
  }

  override matvec(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number): void {
    const seg = this.arena.segmentOf(w);
    if (this.threads < 2 || !seg || n % 4 !== 0 || n * d < this.minSplit || d < 8 || n > SLOT_FLOATS || d > SLOT_FLOATS) return super.matvec(out, x, w, n, d);
    const xo = this.input(seg, x, n, SLOT_X);
    const oo = this.output(seg, out, SLOT_OUT);
    const half = (d >> 1) & ~3;
    this.post(OP.matvec, this.arena.segments.indexOf(seg), [oo + half * 4, xo, w.byteOffset + half * n * 4, n, d - half]);
    seg.kernels.matvec(oo, xo, w.byteOffset, n, half);
    this.join();
    this.copyBack(seg, out, oo, d);
  }

  override compactFfn(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number): void {
    const k = f.slots.length;
    if (this.threads < 2 || f.bundles.format !== "f32" || k * dim < this.minSplit || k < 8 || !this.fits(k, dim)) return super.compactFfn(f, x, hb, hb2, out, dim);
    const seg = this.upload(f.bundles);
    const si = this.arena.segments.indexOf(seg);
    const kern = seg.kernels;
    const base = f.bundles.data.byteOffset;
    const io = this.slotList(seg, f.slots);
    const xo = this.input(seg, x, dim, SLOT_X);
    const h1 = this.output(seg, hb, SLOT_H1);
    const h2 = this.output(seg, hb2, SLOT_H2);
    // Each thread takes half of the slots: their gate and up dots, then their down columns.
    const half = (k >> 1) & ~3;
    const rest = k - half;
    this.post(OP.bundleDots, si, [h1 + half * 4, h2 + half * 4, xo, base, io + half * 4, rest, dim]);
    kern.bundle_dots(h1, h2, xo, base, io, half, dim);
    this.join();
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k);
    const oo = this.output(seg, out, SLOT_OUT);
    const acc = seg.slot(SLOT_ACC);
    this.post(OP.bundleAccum, si, [acc, h1 + half * 4, base, io + half * 4, rest, dim]);
    kern.bundle_accum(oo, h1, base, io, half, dim);
    this.join();
    addInto(seg.f32, oo >> 2, seg.f32.subarray(acc >> 2), dim);
    if (f.bias) addInto(seg.f32, oo >> 2, f.bias, dim);
    this.copyBack(seg, hb, h1, k);
    this.copyBack(seg, out, oo, dim);
  }

  override matmul(out: Float32Array, x: Float32Array, w: Float32Array, n: number, d: number, ntok: number): void {
    const seg = this.arena.segmentOf(w);
    if (this.threads < 2 || !seg || n % 4 !== 0 || n * d < this.minSplit || d < 8 || n * ntok > SLOT_FLOATS || d * ntok > SLOT_FLOATS) {
      return super.matmul(out, x, w, n, d, ntok);
    }
    const xo = this.input(seg, x, n * ntok, SLOT_X);
    const oo = this.output(seg, out, SLOT_OUT);
    const io = this.slotList(seg, iota(d));
    const half = (d >> 1) & ~1;
    // Rows [0, half) here, [half, d) on the helper: each writes its own columns of every token's output.
    this.post(OP.rowsDot, this.arena.segments.indexOf(seg), [oo + half * 4, d, xo, n, ntok, w.byteOffset, io + half * 4, d - half, n * 4]);
    seg.kernels.rows_dot(oo, d, xo, n, ntok, w.byteOffset, io, half, n * 4);
    this.join();
    this.copyBack(seg, out, oo, d * ntok);
  }

  override compactFfnBatch(f: CompactFfn, x: Float32Array, hb: Float32Array, hb2: Float32Array, out: Float32Array, dim: number, ntok: number): void {
    const k = f.slots.length;
    if (this.threads < 2 || f.bundles.format !== "f32" || k * dim < this.minSplit || k < 8 || ntok < 2 || !this.fits(k * ntok, dim * ntok)) {
      return super.compactFfnBatch(f, x, hb, hb2, out, dim, ntok);
    }
    const { seg, base, io, xo, h1, h2, stride } = this.ffnBlock(f, x, hb, hb2, dim, ntok);
    const si = this.arena.segments.indexOf(seg);
    const kern = seg.kernels;
    // Gate and up rows: half of the slots each. Down projection: half of the tokens each
    // (every thread reads all kept columns, and no partial sums need adding up).
    const half = (k >> 1) & ~1;
    this.post(OP.rowsDot, si, [h1 + half * 4, k, xo, dim, ntok, base, io + half * 4, k - half, stride]);
    kern.rows_dot(h1, k, xo, dim, ntok, base, io, half, stride);
    this.join();
    this.post(OP.rowsDot, si, [h2 + half * 4, k, xo, dim, ntok, base + dim * 4, io + half * 4, k - half, stride]);
    kern.rows_dot(h2, k, xo, dim, ntok, base + dim * 4, io, half, stride);
    this.join();
    swiglu(seg.f32, h1 >> 2, h2 >> 2, k * ntok);
    const oo = this.output(seg, out, SLOT_OUT);
    const t0 = ntok >> 1;
    this.post(OP.accumTokens, si, [oo + t0 * dim * 4, h1 + t0 * k * 4, k, ntok - t0, base, io, k, dim]);
    kern.accum_tokens(oo, h1, k, t0, base, io, k, dim);
    this.join();
    if (f.bias) for (let t = 0; t < ntok; t++) addInto(seg.f32, (oo >> 2) + t * dim, f.bias, dim);
    this.copyBack(seg, hb, h1, k * ntok);
    this.copyBack(seg, out, oo, dim * ntok);
  }

  // Q8_0: the main thread quantizes x once (quantizedInput), then each thread takes half of
  // the rows or slots of each kernel call, as for fp32.

  /** Q8_0 kernel calls split between the threads so far. */
  q8Splits = 0;

  /** Matrix rows: the helper takes the last rows, an even number of them (one q8_dots2 call). */
  protected override runQ8Rows(seg: Segment, oo: number, x16: number, xd: number, w: Q8Matrix, io: number): void {
    const d = w.rows;
    if (this.threads < 2 || w.rows * w.cols < this.minSplit || d < 8) return super.runQ8Rows(seg, oo, x16, xd, w, io);
    const split = d - ((d - (d >> 1)) & ~1);
    this.q8Splits++;
    this.post(OP.q8Dots2, this.arena.segments.indexOf(seg), q8RowCalls(oo, x16, xd, w, io, split, d)[0]!);
    for (const args of q8RowCalls(oo, x16, xd, w, io, 0, split)) seg.kernels.q8_dots2(...args);
    this.join();
  }

  /** Gate and up rows: the helper takes the second half of the slots. */
  protected override runQ8Dots(seg: Segment, args: Q8DotsArgs): void {
    const [outA, outB, x16, xd, qbase, dbase, idx, k, n, qstride, dstride, parts] = args;
    if (this.threads < 2 || k * n * parts < this.minSplit || k < 8) return super.runQ8Dots(seg, args);
    const half = (k >> 1) & ~3;
    this.q8Splits++;
    this.post(OP.q8Dots, this.arena.segments.indexOf(seg), [outA + half * 4, outB + half * 4, x16, xd, qbase, dbase, idx + half * 4, k - half, n, qstride, dstride, parts]);
    seg.kernels.q8_dots(outA, outB, x16, xd, qbase, dbase, idx, half, n, qstride, dstride, parts);
    this.join();
  }

  /**
   * Down columns: for one token the helper sums the second half of the slots into SLOT_ACC,
   * added after; for a batch it takes the second half of the tokens (no partial sums to add).
   */
  protected override runQ8Accum(seg: Segment, args: Q8AccumArgs): void {
    const [out, a, astride, ntok, qbase, dbase, idx, k, dim, qstride, dstride] = args;
    if (this.threads < 2 || k * dim < this.minSplit || k < 8) return super.runQ8Accum(seg, args);
    const si = this.arena.segments.indexOf(seg);
    this.q8Splits++;
    if (ntok > 1) {
      const t0 = ntok >> 1;
      this.post(OP.q8Accum, si, [out + t0 * dim * 4, a + t0 * astride * 4, astride, ntok - t0, qbase, dbase, idx, k, dim, qstride, dstride]);
      seg.kernels.q8_accum(out, a, astride, t0, qbase, dbase, idx, k, dim, qstride, dstride);
      this.join();
      return;
    }
    const half = (k >> 1) & ~3;
    const acc = seg.slot(SLOT_ACC);
    this.post(OP.q8Accum, si, [acc, a + half * 4, astride, 1, qbase, dbase, idx + half * 4, k - half, dim, qstride, dstride]);
    seg.kernels.q8_accum(out, a, astride, 1, qbase, dbase, idx, half, dim, qstride, dstride);
    this.join();
    addInto(seg.f32, out >> 2, seg.f32.subarray(acc >> 2), dim);
  }

  /** A masked FFN's sweep: the helper takes the second half of the slots into SLOT_ACC, added after. */
  protected override runQ8Ffn(seg: Segment, args: Q8FfnArgs): void {
    const [out, h, x16, xd, qbase, dbase, idx, k, dim] = args;
    if (this.threads < 2 || k * dim * 3 < this.minSplit || k < 8) return super.runQ8Ffn(seg, args);
    const half = (k >> 1) & ~3;
    const acc = seg.slot(SLOT_ACC);
    this.q8Splits++;
    this.post(OP.q8Ffn, this.arena.segments.indexOf(seg), [acc, h + half * 4, x16, xd, qbase, dbase, idx + half * 4, k - half, dim]);
    seg.kernels.q8_ffn(out, h, x16, xd, qbase, dbase, idx, half, dim);
    this.join();
    addInto(seg.f32, out >> 2, seg.f32.subarray(acc >> 2), dim);
  }

  /** Batched rows (prefill): the helper takes the second half of the rows, for every token. */
  protected override runQ8RowsTokens(seg: Segment, args: Q8RowsTokensArgs): void {
    const [out, ostride, x16, xd, xdT, n, ntok, qbase, dbase, idx, k, qstride, dstride] = args;
    if (this.threads < 2 || k * n < this.minSplit || k < 8) return super.runQ8RowsTokens(seg, args);
    const half = k >> 1;
    this.q8Splits++;
    this.post(OP.q8RowsTokens, this.arena.segments.indexOf(seg), [out + half * 4, ostride, x16, xd, xdT, n, ntok, qbase, dbase, idx + half * 4, k - half, qstride, dstride]);
    seg.kernels.q8_rows_tokens(out, ostride, x16, xd, xdT, n, ntok, qbase, dbase, idx, half, qstride, dstride);
    this.join();
  }

  /** Stops the helper thread. */
  close(): void {
    this.post(OP.exit, 0, []);
  }
}
