// Picking a backend: "wasm" (WASM SIMD, the fastest measured; see docs/performance.md)
// where the runtime can run it, else "ts" (the reference kernels).
import { tsBackend, type Backend, type BackendName } from "./backend.ts";
import { WasmBackend, type WasmBackendOptions } from "./wasm-backend.ts";
import { kernelsModule } from "./wasm-module.ts";

export { adoptWeights, matmulAny, matvecAny, tsBackend, type Backend, type BackendName } from "./backend.ts";
export { WasmBackend, type WasmBackendOptions } from "./wasm-backend.ts";
export { registerKernelsModule } from "./wasm-module.ts";

export const BACKEND_NAMES: readonly BackendName[] = ["ts", "wasm"];

export function defaultBackendName(): BackendName {
  return kernelsModule() ? "wasm" : "ts";
}

/** A backend by name (undefined: the default); each "wasm" backend owns its own WASM memory. */
export function createBackend(name: BackendName | undefined, opts: WasmBackendOptions = {}): Backend {
  const n = name ?? defaultBackendName();
  if (n === "ts") return tsBackend;
  if (n === "wasm") return new WasmBackend(opts);
  throw new RangeError(`unknown backend "${String(n)}": use one of ${BACKEND_NAMES.join(", ")}`);
}
