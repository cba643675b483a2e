// Two-thread WASM backend for Node ("wasm-mt"): the weights live in shared WASM
// memories; a worker_threads helper runs half of each big kernel call on them
// (rows of a matvec, the second half of a compacted FFN's kept neurons) while the
// main thread runs the other half. Handshakes go through Atomics on a shared
// control block: a few microseconds, against hundreds for the calls it splits.
// Node-only (worker_threads); workerd runs the single-threaded "wasm" backend.
import { MessageChannel, Worker } from "node:worker_threads";
import type { CompactFfn } from "../shared/engine/compact-ffn.ts";
import * as ref from "../shared/engine/kernels.ts";
import { SLOT_FLOATS, type Segment } from "../shared/engine/backend/wasm-arena.ts";
import { SLOT_ACC, SLOT_H1, SLOT_H2, SLOT_OUT, SLOT_X, WasmBackend, type WasmBackendOptions } from "../shared/engine/backend/wasm-backend.ts";
import { kernelsModule } from "../shared/engine/backend/wasm-module.ts";
import { OP, SLOT } from "./wasm-threads-protocol.ts";


export class ThreadedWasmBackend extends WasmBackend {
  override readonly name = "wasm-mt";
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(64));
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
    // The helper usually finishes about when we do: spin a little, then sleep (on a busy machine it may be descheduled).
    for (let spins = 0; ; spins++) {
      const done = Atomics.load(this.ctrl, SLOT.done);
      if (done === this.seq) return;
      if (spins > 4096) Atomics.wait(this.ctrl, SLOT.done, done, 10);
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
    const k = f.kept.length;
    if (this.threads < 2 || dim % 4 !== 0 || k * dim < this.minSplit || k < 8 || k > SLOT_FLOATS || dim > SLOT_FLOATS) return super.compactFfn(f, x, hb, hb2, out, dim);
    const seg = this.upload(f).seg;
    const si = this.arena.segments.indexOf(seg);
    const kern = seg.kernels;
    const xo = this.input(seg, x, dim, SLOT_X);
    const h1 = this.output(seg, hb, SLOT_H1);
    const h2 = this.output(seg, hb2, SLOT_H2);
    // gate on the helper, up here; then each thread accumulates half of the kept neurons' down rows.
    this.post(OP.matvec, si, [h1, xo, f.gate.byteOffset, dim, k]);
    kern.matvec(h2, xo, f.up.byteOffset, dim, k);
    this.join();
    const m = seg.f32;
    for (let i = h1 >> 2, j = h2 >> 2, end = (h1 >> 2) + k; i < end; i++, j++) m[i] = ref.silu(m[i]!) * m[j]!;
    const oo = this.output(seg, out, SLOT_OUT);
    const acc = seg.slot(SLOT_ACC);
    const half = k >> 1;
    this.post(OP.accumRows, si, [acc, h1 + half * 4, f.downT.byteOffset + half * dim * 4, k - half, dim]);
    kern.accum_rows(oo, h1, f.downT.byteOffset, half, dim);
    this.join();
    for (let i = oo >> 2, j = acc >> 2, end = (oo >> 2) + dim; i < end; i++, j++) m[i] = m[i]! + m[j]!;
    if (f.bias) for (let i = oo >> 2, j = 0; j < dim; i++, j++) m[i] = m[i]! + f.bias[j]!;
    this.copyBack(seg, hb, h1, k);
    this.copyBack(seg, out, oo, dim);
  }

  /** Stops the helper thread. */
  close(): void {
    this.post(OP.exit, 0, []);
  }
}
