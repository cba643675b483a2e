// Turns chat messages into prompt text. Each message renders on its own (the node
// tokenizes it as one context entry), so a session can append turns without
// re-rendering the past. `generation` is the text a user message ends with so that
// the model's continuation is the assistant's reply.

export interface ChatTemplate {
  name: string;
  system: string;
  user: string;
  assistant: string;
}

/** For base models such as stories260K: messages are plain text that continues the story. */
export const PLAIN_TEMPLATE: ChatTemplate = { name: "plain", system: "{content}", user: "{content}", assistant: "{content}" };

/** A simple role-prefixed transcript for small instruction-following models. */
export const TRANSCRIPT_TEMPLATE: ChatTemplate = {
  name: "transcript",
  system: "{content}\n",
  user: "User: {content}\nAssistant:",
  assistant: " {content}\n",
};

const BUILT_IN: Record<string, ChatTemplate> = { plain: PLAIN_TEMPLATE, transcript: TRANSCRIPT_TEMPLATE };

export const CHAT_ROLES = ["system", "developer", "user", "assistant"] as const;

/**
 * A template from configuration: a built-in name, or JSON
 * `{"system": "...", "user": "...", "assistant": "..."}` with `{content}` placeholders.
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
  for (const k of ["system", "user", "assistant"]) {
    if (typeof t[k] !== "string" || !(t[k] as string).includes("{content}")) throw new Error(`CHAT_TEMPLATE.${k} must be a string containing {content}`);
  }
  return { name: "custom", system: t.system as string, user: t.user as string, assistant: t.assistant as string };
}

export function renderMessage(t: ChatTemplate, role: string, content: string): string {
  const pattern = role === "assistant" ? t.assistant : role === "user" ? t.user : t.system;
  return pattern.replaceAll("{content}", content);
}
