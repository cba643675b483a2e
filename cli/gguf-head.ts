// A GGUF file's metadata without reading its tensors (an 8B model's weights are gigabytes,
// its metadata a few megabytes): read a growing prefix until the header parses.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { ModelFormatError } from "../shared/model/config.ts";
import { GGUF_MAGIC, ggufChatTemplate, ggufTokenizer, parseGguf, type GgufFile } from "../shared/model/gguf.ts";

/** The parsed header of a GGUF file, or null when the file is not GGUF. */
export function readGgufHead(path: string): GgufFile | null {
  const fd = openSync(path, "r");
  try {
    const fileSize = fstatSync(fd).size;
    for (let size = Math.min(fileSize, 4 << 20); ; size = Math.min(fileSize, size * 4)) {
      const buf = new Uint8Array(size);
      readSync(fd, buf, 0, size, 0);
      if (size < 4 || new DataView(buf.buffer).getUint32(0, true) !== GGUF_MAGIC) return null;
      try {
        return parseGguf(buf, { headerOnly: true });
      } catch (e) {
        if (!(e instanceof ModelFormatError) || !/truncated/.test(e.message) || size === fileSize) throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * The CHAT_TEMPLATE setting for a model file's own template: JSON with the Jinja source and
 * its BOS/EOS texts (BOS empty when the tokenizer adds BOS itself). Undefined when the file
 * is not GGUF or has no template (the project's templates apply then).
 */
export function chatTemplateSetting(path: string): string | undefined {
  const head = readGgufHead(path);
  const source = head && ggufChatTemplate(head);
  if (!head || !source) return undefined;
  const tok = ggufTokenizer(head);
  return JSON.stringify({ jinja: source, bos_token: tok.addBos ? "" : tok.pieces[tok.bosId], eos_token: tok.pieces[tok.eosId] });
}
