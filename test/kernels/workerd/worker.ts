// Runs inside workerd (test/kernels/workerd.test.ts): the WASM backend from the
// committed kernels.wasm, imported as a module (workerd cannot compile wasm from
// bytes), running a whole forward pass of the llama2.c model POSTed to it.
// @ts-expect-error -- a CompiledWasm module provided by the test's Miniflare
import kernels from "../../../shared/engine/backend/kernels.wasm";
import { registerKernelsModule } from "../../../shared/engine/backend/index.ts";
import { wasmApi } from "../../../shared/engine/backend/wasm-module.ts";
import { Transformer } from "../../../shared/engine/transformer.ts";
import { readLlama2c } from "../../../shared/model/llama2c.ts";

export default {
  async fetch(req: Request): Promise<Response> {
    const tokens = (new URL(req.url).searchParams.get("tokens") ?? "1").split(",").map(Number);
    let compileFromBytes = "allowed";
    try {
      new wasmApi.Module(new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
    } catch (e) {
      compileFromBytes = String(e);
    }
    registerKernelsModule(kernels);
    const tf = new Transformer(readLlama2c(await req.arrayBuffer()), { backend: "wasm" });
    const s = tf.newState();
    const logits = tokens.map((t, pos) => Array.from(tf.forward(s, t, pos)));
    return Response.json({ backend: tf.backend.name, compileFromBytes, logits });
  },
};
