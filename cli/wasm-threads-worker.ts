// The helper thread of cli/wasm-threads.ts: runs kernel calls posted through a
// shared control block on the same shared WASM memories as the main thread.
import { receiveMessageOnPort, workerData, type MessagePort } from "node:worker_threads";
import type { KernelExports } from "../shared/engine/backend/wasm-kernels.ts";
import { wasmApi, type WasmMemory, type WasmModule } from "../shared/engine/backend/wasm-module.ts";
import { OP, SLOT } from "./wasm-threads-protocol.ts";

const { control, port, module } = workerData as { control: SharedArrayBuffer; port: MessagePort; module: WasmModule };
const ctrl = new Int32Array(control);
const kernels: KernelExports[] = [];
let seen = 0;
for (;;) {
  // Spin a millisecond or so (a token's ops come back to back, with the main thread's
  // norms and attention between them; waking from Atomics.wait there cost about 8% of
  // 2-thread decode), then sleep until the next one.
  for (let spins = 0; Atomics.load(ctrl, SLOT.seq) === seen; spins++) {
    if (spins > 1 << 20) Atomics.wait(ctrl, SLOT.seq, seen, 100);
  }
  seen = Atomics.load(ctrl, SLOT.seq);
  const a = (i: number) => ctrl[SLOT.args + i]!;
  const op = ctrl[SLOT.op];
  if (op === OP.exit) break;
  if (op === OP.segment) {
    const memory = receiveMessageOnPort(port)!.message as WasmMemory;
    kernels.push(new wasmApi.Instance(module, { env: { memory } }).exports as KernelExports);
  } else if (op === OP.matvec) kernels[ctrl[SLOT.segment]!]!.matvec(a(0), a(1), a(2), a(3), a(4));
  else if (op === OP.bundleDots) kernels[ctrl[SLOT.segment]!]!.bundle_dots(a(0), a(1), a(2), a(3), a(4), a(5), a(6));
  else if (op === OP.bundleAccum) kernels[ctrl[SLOT.segment]!]!.bundle_accum(a(0), a(1), a(2), a(3), a(4), a(5));
  else if (op === OP.rowsDot) kernels[ctrl[SLOT.segment]!]!.rows_dot(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8));
  else if (op === OP.accumTokens) kernels[ctrl[SLOT.segment]!]!.accum_tokens(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7));
  else if (op === OP.q8Dots2) kernels[ctrl[SLOT.segment]!]!.q8_dots2(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11), a(12));
  else if (op === OP.q8Dots) kernels[ctrl[SLOT.segment]!]!.q8_dots(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11));
  else if (op === OP.q8Accum) kernels[ctrl[SLOT.segment]!]!.q8_accum(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10));
  else if (op === OP.q8Ffn) kernels[ctrl[SLOT.segment]!]!.q8_ffn(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8));
  else if (op === OP.q8RowsTokens) kernels[ctrl[SLOT.segment]!]!.q8_rows_tokens(a(0), a(1), a(2), a(3), a(4), a(5), a(6), a(7), a(8), a(9), a(10), a(11), a(12));
  Atomics.store(ctrl, SLOT.done, seen);
  Atomics.notify(ctrl, SLOT.done);
}
