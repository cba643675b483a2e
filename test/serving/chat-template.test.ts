// Model files' own chat templates rendered with @huggingface/jinja: whole conversations
// against the text each template defines (written out by hand here), and the per-message
// texts a session appends, which must add up to the same prompt the model would be fed.
import { describe, expect, it } from "vitest";
import { parseChatTemplate, renderSegments, type ChatMessage } from "../../shared/serving/chat-template.ts";
import { ChatTemplateError, renderJinja, type JinjaTemplate } from "../../shared/serving/jinja-template.ts";
import { LLAMA3_TEMPLATE, MISTRAL_TEMPLATE, SMOLLM2_TEMPLATE, TINYLLAMA_TEMPLATE } from "../helpers/family-gguf.ts";

const jinja = (source: string, bos = "", eos = ""): JinjaTemplate => ({ name: "jinja", source, bosToken: bos, eosToken: eos });
const conversation: ChatMessage[] = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Hi " },
  { role: "assistant", content: "Hello!" },
  { role: "user", content: "2+2?" },
];

describe("a GGUF file's Jinja chat template", () => {
  it("Llama 3 Instruct: headers, trimmed content, <|eot_id|>, BOS first, the assistant header as generation prompt", () => {
    const h = (role: string) => `<|start_header_id|>${role}<|end_header_id|>\n\n`;
    expect(renderJinja(jinja(LLAMA3_TEMPLATE, "<|begin_of_text|>"), conversation, true)).toBe(
      `<|begin_of_text|>${h("system")}Be brief.<|eot_id|>${h("user")}Hi<|eot_id|>${h("assistant")}Hello!<|eot_id|>${h("user")}2+2?<|eot_id|>${h("assistant")}`,
    );
  });

  it("SmolLM2: ChatML with its default system prompt when none is given", () => {
    expect(renderJinja(jinja(SMOLLM2_TEMPLATE), [{ role: "user", content: "Hi" }], true)).toBe(
      "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
  });

  it("TinyLlama (Zephyr): </s> after every message", () => {
    expect(renderJinja(jinja(TINYLLAMA_TEMPLATE, "<s>", "</s>"), conversation.slice(0, 2), true)).toBe(
      "<|system|>\nBe brief.</s>\n<|user|>\nHi </s>\n<|assistant|>\n",
    );
  });

  it("a template's raise_exception is a ChatTemplateError with its message (Mistral refuses a system role)", () => {
    const t = jinja(MISTRAL_TEMPLATE, "<s>", "</s>");
    expect(renderJinja(t, conversation.slice(1), false)).toBe("<s>[INST] Hi  [/INST]Hello!</s>[INST] 2+2? [/INST]");
    expect(() => renderJinja(t, conversation, false)).toThrow(ChatTemplateError);
    expect(() => renderJinja(t, conversation, false)).toThrow(/roles must alternate/);
    expect(() => renderJinja(jinja("{% for %}"), [], false)).toThrow(ChatTemplateError);
  });

  it("CHAT_TEMPLATE JSON carries a Jinja source and its BOS/EOS texts", () => {
    expect(parseChatTemplate(JSON.stringify({ jinja: TINYLLAMA_TEMPLATE, bos_token: "<s>", eos_token: "</s>" }))).toEqual(jinja(TINYLLAMA_TEMPLATE, "<s>", "</s>"));
  });
});

describe("per-message texts of a session", () => {
  // What a session stores after each turn: the new messages' texts, then the reply as generated
  // (generation stops on the end-of-turn token, which is not part of the reply).
  function replay(t: JinjaTemplate, turns: { fresh: ChatMessage[]; reply: string }[]): string {
    const history: ChatMessage[] = [];
    let fed = "";
    for (const turn of turns) {
      fed += renderSegments(t, history, turn.fresh).join("");
      history.push(...turn.fresh);
      const full = renderJinja(t, history, true);
      expect(fed).toBe(full); // after the user's turn, the model sees exactly the template's prompt
      fed += turn.reply;
      history.push({ role: "assistant", content: turn.reply });
    }
    return fed;
  }

  for (const [name, t] of [
    ["Llama 3", jinja(LLAMA3_TEMPLATE)],
    ["SmolLM2", jinja(SMOLLM2_TEMPLATE)],
    ["TinyLlama", jinja(TINYLLAMA_TEMPLATE, "", "</s>")],
  ] as const) {
    it(`${name}: the texts add up to the template's rendering, turn after turn`, () => {
      replay(t, [
        { fresh: [{ role: "system", content: "Be brief." }, { role: "user", content: "Hi" }], reply: "Hello!" },
        { fresh: [{ role: "user", content: "And you?" }], reply: "Fine." },
        { fresh: [{ role: "user", content: "Bye" }], reply: "" },
        { fresh: [{ role: "user", content: "Still there?" }], reply: "Yes." },
      ]);
    });
  }

  it("Llama 3: the next user message opens with the <|eot_id|> that closes the previous reply", () => {
    const t = jinja(LLAMA3_TEMPLATE);
    const [text] = renderSegments(t, [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello!" }], [{ role: "user", content: "Bye" }]);
    expect(text).toBe("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  });
});
