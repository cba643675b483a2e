// The WASM backend inside workerd (Miniflare): kernels.wasm imported as a module,
// logits equal to the reference TypeScript backend's in Node.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { afterAll, describe, expect, it } from "vitest";
import { Transformer } from "../../shared/engine/transformer.ts";
import { readLlama2c } from "../../shared/model/llama2c.ts";
import { relErr } from "./helpers.ts";
import { dataPath } from "../helpers/model-dir.ts";

const WASM = resolve(import.meta.dirname, "../../shared/engine/backend/kernels.wasm");

describe("WASM backend in workerd", () => {
  let mf: Miniflare | undefined;
  afterAll(() => mf?.dispose());

  it("imports kernels.wasm as a module and matches the reference logits on stories260K", async () => {
    const bundle = await build({
      entryPoints: [resolve(import.meta.dirname, "workerd/worker.ts")],
      bundle: true, format: "esm", write: false, platform: "neutral",
      plugins: [{
        name: "wasm-module",
        setup(b) {
          b.onResolve({ filter: /\.wasm$/ }, () => ({ path: "kernels.wasm", external: true }));
        },
      }],
    });
    mf = new Miniflare({
      compatibilityDate: "2025-09-01",
      modules: [
        { type: "ESModule", path: "worker.mjs", contents: bundle.outputFiles[0]!.text },
        { type: "CompiledWasm", path: "kernels.wasm", contents: readFileSync(WASM) },
      ],
    });
    const model = readFileSync(dataPath("stories260K.bin"));
    const tokens = [1, 403, 407, 261, 378];
    const res = await mf.dispatchFetch(`http://worker/?tokens=${tokens.join(",")}`, { method: "POST", body: model });
    const got = (await res.json()) as { backend: string; compileFromBytes: string; logits: number[][] };
    expect(got.backend).toBe("wasm");
    expect(got.compileFromBytes).not.toBe("allowed"); // why the module import is needed
    const ref = new Transformer(readLlama2c(new Uint8Array(model).buffer), { backend: "ts" });
    const s = ref.newState();
    tokens.forEach((t, pos) => {
      const want = ref.forward(s, t, pos);
      expect(relErr(Float32Array.from(got.logits[pos]!), want)).toBeLessThan(1e-4);
    });
  });
});
