// The compiled kernels module. Node (and browsers) compile it from the bytes the
// encoder emits; workerd forbids compiling wasm at run time, so a Worker imports
// the committed kernels.wasm (`import mod from "./kernels.wasm"`) and registers it.
import { kernelsWasmBytes } from "./wasm-kernels.ts";

// The project's tsconfig has no DOM/WebAssembly lib; these are the few members used.
export type WasmModule = object;
export interface WasmMemory {
  /** An ArrayBuffer, or a SharedArrayBuffer for a shared memory. */
  readonly buffer: ArrayBufferLike;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Memory: new (d: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Instance: new (m: WasmModule, imports: object) => { exports: unknown };
}
export const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let cached: WasmModule | null | undefined;
let cachedShared: WasmModule | null | undefined;

/** Use a precompiled module (the Worker's import of kernels.wasm). */
export function registerKernelsModule(mod: WasmModule): void {
  cached = mod;
}

/**
 * The kernels module, or null where this runtime cannot compile it (no SIMD, or no
 * run-time compilation). `shared`: the variant importing a shared memory, for threads.
 */
export function kernelsModule(shared = false): WasmModule | null {
  const compile = () => {
    try {
      return new wasmApi.Module(kernelsWasmBytes({ sharedMemory: shared }));
    } catch {
      return null;
    }
  };
  if (shared) return (cachedShared ??= compile());
  return (cached ??= compile());
}
