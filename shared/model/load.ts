// Format detection: GGUF by its magic, else a llama2.c checkpoint (which has no magic).
import { ModelFormatError } from "./config.ts";
import { GGUF_MAGIC, parseGguf, ggufTokenizer, readGguf } from "./gguf.ts";
import { readLlama2c } from "./llama2c.ts";
import { notAModel } from "./not-a-model.ts";
import type { LoadedModel } from "./weights.ts";
import { readLlama2cTokenizer, Tokenizer } from "../tokenizer/tokenizer.ts";

export function isGguf(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === GGUF_MAGIC;
}

/** `maxContext` bounds a GGUF model's KV cache (default DEFAULT_CONTEXT positions). */
export function loadModel(buffer: ArrayBuffer | Uint8Array, opts: { maxContext?: number } = {}): LoadedModel {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (isGguf(bytes)) return readGguf(bytes, opts);
  const why = notAModel(bytes);
  if (why) throw new ModelFormatError(why);
  const ab = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes.buffer : bytes.slice().buffer;
  return readLlama2c(ab as ArrayBuffer);
}

/**
 * The tokenizer for a model: from a separate llama2.c tokenizer.bin when given,
 * else from the vocabulary embedded in a GGUF model file.
 */
export function loadTokenizer(model: LoadedModel, modelBytes: Uint8Array | null, tokenizerBytes?: Uint8Array | null): Tokenizer {
  if (tokenizerBytes) return new Tokenizer(readLlama2cTokenizer(tokenizerBytes, model.config.vocabSize));
  if (modelBytes && isGguf(modelBytes)) {
    const data = ggufTokenizer(parseGguf(modelBytes));
    if (data.pieces.length !== model.config.vocabSize) {
      throw new ModelFormatError(`GGUF tokenizer has ${data.pieces.length} tokens, the model's vocabulary is ${model.config.vocabSize}`);
    }
    return new Tokenizer(data);
  }
  throw new ModelFormatError("this model file has no embedded tokenizer: pass a tokenizer file (llama2.c tokenizer.bin)");
}
