import { readFileSync } from "node:fs";
import { loadTokenizerOnly } from "../model-files.ts";
import { parseFlags, required, UsageError } from "../usage.ts";

export const usage = `dart tokenize --model <file> (--text <t> | --file <path>) [--tokenizer <tokenizer.bin>] [--no-bos] [--no-special] [--json]
  Prints the token ids the model is fed for a text: BOS as the file says (--no-bos drops it),
  special tokens typed in the text recognised (--no-special reads them as plain text).
  With --json: {"ids": [...], "tokens": [...]}.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, tokenizer: { type: "string" }, text: { type: "string" }, file: { type: "string" },
    "no-bos": { type: "boolean" }, "no-special": { type: "boolean" }, json: { type: "boolean" },
  });
  const model = required(v, "model");
  if ((v.text === undefined) === (v.file === undefined)) throw new UsageError("give exactly one of --text and --file");
  const text = v.text ?? readFileSync(v.file!, "utf8");
  const tok = loadTokenizerOnly(model, v.tokenizer);
  const ids = tok.encode(text, { ...(v["no-bos"] ? { bos: false } : {}), parseSpecial: !v["no-special"] });
  if (v.json) process.stdout.write(JSON.stringify({ ids, tokens: ids.map((id) => tok.piece(id)) }) + "\n");
  else process.stdout.write(ids.join(" ") + "\n");
}
