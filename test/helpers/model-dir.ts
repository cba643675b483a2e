// Where tests find the real model and texts: $DART_MODEL_DIR, else ../shared/data beside the repository.
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadModel, loadTokenizer } from "../../shared/model/load.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import type { LoadedModel } from "../../shared/model/weights.ts";
import type { Tokenizer } from "../../shared/tokenizer/tokenizer.ts";

export const MODEL_DIR = resolve(process.env.DART_MODEL_DIR ?? resolve(import.meta.dirname, "../../../shared/data"));
if (!existsSync(resolve(MODEL_DIR, "stories260K.bin"))) {
  throw new Error(`model files not found in ${MODEL_DIR}: set DART_MODEL_DIR (see README)`);
}

export const dataPath = (name: string) => resolve(MODEL_DIR, name);
export const readData = (name: string) => new Uint8Array(readFileSync(dataPath(name)));

export interface Bundle {
  model: LoadedModel;
  tf: Transformer;
  tok: Tokenizer;
}

const cache = new Map<string, Bundle>();
/** The real stories260K model, from its llama2.c ("bin") or GGUF file; loaded once per test file. */
export function stories(format: "bin" | "gguf" = "bin"): Bundle {
  let b = cache.get(format);
  if (!b) {
    const bytes = readData(format === "bin" ? "stories260K.bin" : "stories260K-f32.gguf");
    const model = loadModel(bytes);
    const tok = loadTokenizer(model, bytes, format === "bin" ? readData("tok512.bin") : null);
    b = { model, tf: new Transformer(model), tok };
    cache.set(format, b);
  }
  return b;
}
