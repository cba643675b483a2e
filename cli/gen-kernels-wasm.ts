// Writes shared/engine/backend/kernels.wasm from the encoder (npm run gen:wasm).
// Workers import that file; test/kernels checks it matches kernelsWasmBytes().
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { kernelsWasmBytes } from "../shared/engine/backend/wasm-kernels.ts";

const out = resolve(import.meta.dirname, "../shared/engine/backend/kernels.wasm");
const bytes = kernelsWasmBytes();
writeFileSync(out, bytes);
process.stdout.write(`wrote ${out} (${bytes.length} bytes)\n`);
