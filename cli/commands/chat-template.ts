import { parseChatTemplate, renderSegments, type ChatMessage } from "../../shared/serving/chat-template.ts";
import { chatTemplateSetting } from "../gguf-head.ts";
import { parseFlags, required, UsageError } from "../usage.ts";

export const usage = `dart chat-template --model <file> --messages '<JSON array of {role, content}>' [--template <name|JSON>]
  Prints the prompt the model is fed for a conversation, generation prompt included: the
  file's own template (GGUF tokenizer.chat_template), else --template (default plain).
  A BOS the tokenizer adds itself is not printed.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, { model: { type: "string" }, messages: { type: "string" }, template: { type: "string" } });
  const model = required(v, "model");
  let messages: ChatMessage[];
  try {
    messages = JSON.parse(required(v, "messages")) as ChatMessage[];
  } catch (e) {
    throw new UsageError(`--messages is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(messages) || messages.length === 0 || !messages.every((m) => typeof m?.role === "string" && typeof m?.content === "string")) {
    throw new UsageError("--messages must be a non-empty JSON array of {role, content} strings");
  }
  const setting = v.template ?? chatTemplateSetting(model);
  if (setting === undefined) process.stderr.write("this model file has no chat template: using the project's plain template\n");
  let template;
  try {
    template = parseChatTemplate(setting);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  process.stdout.write(renderSegments(template, [], messages).join("")); // a refusing template exits 1 with its message
}
