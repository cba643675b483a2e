// Files that are not models but get passed as one. A llama2.c tokenizer file (tok512.bin,
// tokenizer.bin) has no magic; read as a checkpoint, its header (the longest token's length,
// then the first token's score 0.0f) says "hiddenDim = 0", which names the wrong problem.

const MAX_PIECE_BYTES = 1024;

/**
 * The number of tokens when `bytes` parses as a whole llama2.c tokenizer file (an int32
 * longest-piece length, then records of float32 score, int32 length, UTF-8 bytes, ending exactly
 * at the end of the file), else null. A model file fails within its first records.
 */
export function llama2cTokenizerTokens(bytes: Uint8Array): number | null {
  if (bytes.byteLength < 4) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const longest = dv.getInt32(0, true);
  if (longest < 1 || longest > MAX_PIECE_BYTES) return null;
  let off = 4;
  let tokens = 0;
  while (off < bytes.byteLength) {
    if (off + 8 > bytes.byteLength) return null;
    const len = dv.getInt32(off + 4, true);
    if (len < 0 || len > longest || off + 8 + len > bytes.byteLength) return null;
    off += 8 + len;
    tokens++;
  }
  return tokens >= 3 ? tokens : null;
}

/** One line saying what `bytes` is instead of a model (null: it may be one). */
export function notAModel(bytes: Uint8Array, path = "this file"): string | null {
  const tokens = llama2cTokenizerTokens(bytes);
  if (tokens === null) return null;
  return `${path} is a llama2.c tokenizer file (${tokens} tokens), not a model: pass a model (a llama2.c checkpoint or a GGUF file) as --model, and a tokenizer as --tokenizer`;
}
