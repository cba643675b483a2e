// `dart chat-template` prints what the model is fed for a conversation, from the file's own template.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tokenizerMetadata, writeGguf } from "../../shared/model/gguf-writer.ts";
import { LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, llama2Vocab } from "../helpers/family-gguf.ts";
import { dataPath } from "../helpers/model-dir.ts";
import { llama3Vocab } from "../helpers/real-vocab.ts";
import { dart } from "../helpers/run-cli.ts";

const dir = mkdtempSync(join(tmpdir(), "dart-chat-template-"));
function metadataOnly(name: string, vocab: ReturnType<typeof llama3Vocab>, template: string): string {
  const path = join(dir, name);
  writeFileSync(path, writeGguf([
    ["general.architecture", { type: "string", value: "llama" }],
    ...tokenizerMetadata(vocab),
    ["tokenizer.chat_template", { type: "string", value: template }],
  ], []));
  return path;
}
const messages = JSON.stringify([{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }]);

describe("dart chat-template", () => {
  it("renders the file's template with the generation prompt; the BOS the tokenizer adds is not printed", () => {
    const r = dart(["chat-template", "--model", metadataOnly("llama3.gguf", llama3Vocab(), LLAMA3_TEMPLATE), "--messages", messages]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  it("a template that refuses the conversation exits 1 with its message", () => {
    const r = dart(["chat-template", "--model", metadataOnly("mistral.gguf", llama2Vocab(), MISTRAL_TEMPLATE), "--messages", messages]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Conversation roles must alternate/);
  });

  it("a file without a template falls back to the project's templates", () => {
    const plain = dart(["chat-template", "--model", dataPath("stories260K-f32.gguf"), "--messages", messages]);
    expect(plain.stdout).toBe("Be brief.Hi");
    expect(plain.stderr).toMatch(/no chat template/);
    const transcript = dart(["chat-template", "--model", dataPath("stories260K-f32.gguf"), "--messages", messages, "--template", "transcript"]);
    expect(transcript.stdout).toBe("Be brief.\nUser: Hi\nAssistant:");
  });

  it("bad --messages is a usage error", () => {
    const r = dart(["chat-template", "--model", dataPath("stories260K-f32.gguf"), "--messages", "[{\"role\": 1}]"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--messages must be/);
  });
});
