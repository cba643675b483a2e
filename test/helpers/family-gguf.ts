// Small GGUF files shaped like the models people download: each family's metadata keys,
// chat template and special tokens, a real vocabulary (real-vocab.ts), random weights.
import { readData } from "./model-dir.ts";
import { Rng } from "../../shared/engine/sampler.ts";
import type { ModelConfig } from "../../shared/model/config.ts";
import { kvDim } from "../../shared/model/config.ts";
import { GGML_TYPE } from "../../shared/model/dtypes.ts";
import { writeLlamaGguf, type MetaValue } from "../../shared/model/gguf-writer.ts";
import type { LayerWeights, LoadedModel } from "../../shared/model/weights.ts";
import { readLlama2cTokenizer, TOKEN_TYPE, type TokenizerData } from "../../shared/tokenizer/tokenizer.ts";
import { gpt2Vocab, llama3Vocab } from "./real-vocab.ts";

/** Meta-Llama-3-8B-Instruct's tokenizer_config.json chat_template. */
export const LLAMA3_TEMPLATE =
  "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

/** SmolLM2-Instruct's ChatML template. */
export const SMOLLM2_TEMPLATE =
  "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/** TinyLlama-1.1B-Chat-v1.0's (Zephyr) template. */
export const TINYLLAMA_TEMPLATE =
  "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

/** Mistral-7B-Instruct-v0.2's template (refuses roles that do not alternate). */
export const MISTRAL_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

/** SmolLM2's vocabulary stand-in: GPT-2's, plus ChatML's two control tokens as SmolLM2 has them. */
export function smollmVocab(): TokenizerData {
  const v = gpt2Vocab("smollm");
  return {
    ...v,
    pieces: [...v.pieces, "<|im_start|>", "<|im_end|>"],
    merges: v.merges,
    tokenTypes: [...v.tokenTypes!, TOKEN_TYPE.CONTROL, TOKEN_TYPE.CONTROL],
    scores: new Float32Array(v.pieces.length + 2),
    bosId: v.pieces.length, // <|im_start|>, as SmolLM2's GGUF files say
    eosId: v.pieces.length + 1, // <|im_end|>
    addBos: false,
  };
}

/** Llama 2's real 32,000-token SentencePiece vocabulary (the llama2.c export of it), typed as GGUF types it. */
export function llama2Vocab(): TokenizerData {
  const t = readLlama2cTokenizer(readData("tokenizer-32000.bin"), 32000);
  const tokenTypes = t.pieces.map((p, id) =>
    id === 0 ? TOKEN_TYPE.UNKNOWN : id <= 2 ? TOKEN_TYPE.CONTROL : /^<0x[0-9A-F]{2}>$/.test(p) ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL,
  );
  return { ...t, model: "llama", tokenTypes, addBos: true, addEos: false };
}

export interface Family {
  name: string;
  vocab: () => TokenizerData;
  template: string;
  /** Family-specific keys beyond the config (RoPE scaling and the like). */
  metadata?: [string, MetaValue][];
  nHeads: number;
  nKvHeads: number;
  ropeTheta: number;
  contextLength: number;
  tied: boolean;
}

export const FAMILIES: Family[] = [
  {
    name: "llama-3.x-instruct", vocab: llama3Vocab, template: LLAMA3_TEMPLATE, nHeads: 8, nKvHeads: 1, ropeTheta: 500000,
    contextLength: 131072, tied: false,
    metadata: [
      ["llama.rope.scaling.type", { type: "string", value: "llama3" }],
      ["llama.rope.scaling.factor", { type: "f32", value: 8 }],
      ["llama.rope.scaling.low_freq_factor", { type: "f32", value: 1 }],
      ["llama.rope.scaling.high_freq_factor", { type: "f32", value: 4 }],
      ["llama.rope.scaling.original_context_length", { type: "u32", value: 8192 }],
    ],
  },
  { name: "smollm2-instruct", vocab: smollmVocab, template: SMOLLM2_TEMPLATE, nHeads: 4, nKvHeads: 1, ropeTheta: 100000, contextLength: 8192, tied: true },
  { name: "tinyllama-chat", vocab: llama2Vocab, template: TINYLLAMA_TEMPLATE, nHeads: 4, nKvHeads: 1, ropeTheta: 10000, contextLength: 2048, tied: false },
  { name: "mistral-instruct", vocab: llama2Vocab, template: MISTRAL_TEMPLATE, nHeads: 8, nKvHeads: 2, ropeTheta: 1000000, contextLength: 32768, tied: false },
];

/** Random weights (uniform, unit-variance outputs) for a config, seeded. */
export function randomModel(config: ModelConfig, seed: number, tied: boolean): Pick<LoadedModel, "config" | "weights"> {
  const rng = new Rng(seed);
  const t = (n: number, fanIn: number) => {
    const a = Math.sqrt(3 / fanIn);
    return Float32Array.from({ length: n }, () => ((rng.nextU32() / 2 ** 32) * 2 - 1) * a);
  };
  const { dim, hiddenDim: h, vocabSize: v } = config;
  const kv = kvDim(config);
  const ones = () => new Float32Array(dim).fill(1);
  const layers: LayerWeights[] = Array.from({ length: config.nLayers }, () => ({
    attnNorm: ones(), wq: t(dim * dim, dim), wk: t(kv * dim, dim), wv: t(kv * dim, dim), wo: t(dim * dim, dim),
    ffnNorm: ones(), wGate: t(h * dim, dim), wDown: t(dim * h, h), wUp: t(h * dim, dim),
  }));
  const tokenEmbedding = t(v * dim, dim);
  return { config, weights: { tokenEmbedding, layers, finalNorm: ones(), classifier: tied ? tokenEmbedding : t(v * dim, dim) } };
}

/** A family's GGUF bytes: tiny dims (dim 64, 2 layers), its real vocabulary, template and keys. */
export function familyGguf(f: Family, opts: { dtype?: number; seed?: number; dim?: number; hiddenDim?: number; nLayers?: number } = {}): Uint8Array {
  const vocab = f.vocab();
  const config: ModelConfig = {
    dim: opts.dim ?? 64, hiddenDim: opts.hiddenDim ?? 128, nLayers: opts.nLayers ?? 2, nHeads: f.nHeads, nKvHeads: f.nKvHeads,
    vocabSize: vocab.pieces.length, seqLen: f.contextLength, ropeTheta: f.ropeTheta, normEps: 1e-5,
  };
  return writeLlamaGguf(randomModel(config, opts.seed ?? 1, f.tied), {
    dtype: opts.dtype ?? GGML_TYPE.F32,
    tokenizer: vocab,
    metadata: [["tokenizer.chat_template", { type: "string", value: f.template }], ...(f.metadata ?? [])],
  });
}
