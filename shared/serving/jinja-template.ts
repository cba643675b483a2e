// A model's own chat template (GGUF tokenizer.chat_template, Hugging Face's Jinja dialect)
// rendered with @huggingface/jinja (which supplies raise_exception and strftime_now). A template renders a whole conversation; the session
// needs the text of each new message alone, so a message's text is the rendering with it
// minus the rendering without it. The model's context after an assistant reply ends at the
// reply's last token (generation stopped on the end-of-turn token, which is not stored),
// so the text before a new message is the prompt the reply answered plus the reply: the
// next message's text then starts with the end-of-turn token that closes the reply.
import { Template } from "@huggingface/jinja";
import type { ChatMessage } from "./chat-template.ts";

export interface JinjaTemplate {
  name: "jinja";
  source: string;
  /** "" when the tokenizer adds BOS itself, so the rendering does not carry a second one. */
  bosToken: string;
  eosToken: string;
}

export class ChatTemplateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ChatTemplateError";
  }
}

const parsed = new Map<string, Template>();

/** The whole conversation as the template renders it. */
export function renderJinja(t: JinjaTemplate, messages: ChatMessage[], addGenerationPrompt: boolean): string {
  let template = parsed.get(t.source);
  try {
    if (!template) {
      template = new Template(t.source);
      if (parsed.size > 8) parsed.clear();
      parsed.set(t.source, template);
    }
    return template.render({
      messages,
      add_generation_prompt: addGenerationPrompt,
      bos_token: t.bosToken,
      eos_token: t.eosToken,
    });
  } catch (e) {
    if (e instanceof ChatTemplateError) throw e;
    throw new ChatTemplateError(`the model's chat template failed: ${(e as Error).message}`);
  }
}

export function renderJinjaSegments(t: JinjaTemplate, history: ChatMessage[], fresh: ChatMessage[]): string[] {
  let before = fedSoFar(t, history);
  const out: string[] = [];
  fresh.forEach((_, i) => {
    const last = i === fresh.length - 1;
    // The last new message is the user's turn: the generation prompt follows it.
    const now = renderJinja(t, [...history, ...fresh.slice(0, i + 1)], last);
    out.push(now.slice(commonPrefix(before, now)));
    before = now;
  });
  return out;
}

/** What the model was fed up to the end of the last reply: the prompt it answered, then the reply. */
function fedSoFar(t: JinjaTemplate, history: ChatMessage[]): string {
  const last = history.at(-1);
  if (last?.role !== "assistant") return renderJinja(t, history, false);
  return renderJinja(t, history.slice(0, -1), true) + last.content;
}

/** Length of the common prefix: templates append, so this is normally all of `a`. */
function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
