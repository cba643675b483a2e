// Turns chat messages into prompt text, one text per new message (the node tokenizes
// each as one context entry), so a session appends turns without re-rendering the past.
// Two kinds: the project's role patterns with {content} placeholders, and a model
// file's own Jinja template (tokenizer.chat_template, rendered by jinja-template.ts).
import { renderJinjaSegments, type JinjaTemplate } from "./jinja-template.ts";

export interface PatternTemplate {
  name: string;
  system: string;
  user: string;
  assistant: string;
}

export type ChatTemplate = PatternTemplate | JinjaTemplate;
export interface ChatMessage {
  role: string;
  content: string;
}

/** For base models such as stories260K: messages are plain text that continues the story. */
export const PLAIN_TEMPLATE: PatternTemplate = { name: "plain", system: "{content}", user: "{content}", assistant: "{content}" };

/** A simple role-prefixed transcript for small instruction-following models. */
export const TRANSCRIPT_TEMPLATE: PatternTemplate = {
  name: "transcript",
  system: "{content}\n",
  user: "User: {content}\nAssistant:",
  assistant: " {content}\n",
};

const BUILT_IN: Record<string, PatternTemplate> = { plain: PLAIN_TEMPLATE, transcript: TRANSCRIPT_TEMPLATE };

export const CHAT_ROLES = ["system", "developer", "user", "assistant"] as const;

/**
 * A template from configuration: a built-in name, JSON `{"system": "...", "user": "...",
 * "assistant": "..."}` with `{content}` placeholders, or JSON `{"jinja": "...",
 * "bos_token": "...", "eos_token": "..."}` (what `dart serve` passes for a GGUF file's template).
 */
export function parseChatTemplate(config: string | undefined): ChatTemplate {
  const c = (config ?? "").trim();
  if (c === "") return PLAIN_TEMPLATE;
  const named = BUILT_IN[c];
  if (named) return named;
  let o: unknown;
  try {
    o = JSON.parse(c);
  } catch {
    throw new Error(`CHAT_TEMPLATE must be one of ${Object.keys(BUILT_IN).join(", ")} or a JSON object`);
  }
  const t = o as Record<string, unknown>;
  if (typeof t.jinja === "string") {
    return { name: "jinja", source: t.jinja, bosToken: String(t.bos_token ?? ""), eosToken: String(t.eos_token ?? "") };
  }
  for (const k of ["system", "user", "assistant"]) {
    if (typeof t[k] !== "string" || !(t[k] as string).includes("{content}")) throw new Error(`CHAT_TEMPLATE.${k} must be a string containing {content}`);
  }
  return { name: "custom", system: t.system as string, user: t.user as string, assistant: t.assistant as string };
}

export function renderMessage(t: ChatTemplate, role: string, content: string): string {
  if ("source" in t) return renderJinjaSegments(t, [], [{ role, content }])[0]!;
  const pattern = role === "assistant" ? t.assistant : role === "user" ? t.user : t.system;
  return pattern.replaceAll("{content}", content);
}

/** The text of each new message, given the conversation the session already holds. */
export function renderSegments(t: ChatTemplate, history: ChatMessage[], fresh: ChatMessage[]): string[] {
  if ("source" in t) return renderJinjaSegments(t, history, fresh);
  return fresh.map((m) => renderMessage(t, m.role, m.content));
}
