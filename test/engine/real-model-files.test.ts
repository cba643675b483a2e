// GGUF files shaped like the downloads people use (Llama 3.x, SmolLM2, TinyLlama, Mistral
// Instruct): each family's metadata, real vocabulary and template, random weights.
import llama3 from "llama3-tokenizer-js";
import { describe, expect, it } from "vitest";
import { generate } from "../../shared/engine/generate.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { loadModel, loadTokenizer } from "../../shared/model/load.ts";
import type { ModelConfig } from "../../shared/model/config.ts";
import { familyGguf, FAMILIES } from "../helpers/family-gguf.ts";
import { llama3Vocab, LLAMA3_BOS, LLAMA3_EOT } from "../helpers/real-vocab.ts";

describe.each(FAMILIES)("$name", (f) => {
  const bytes = familyGguf(f);
  const model = loadModel(bytes);
  const tok = loadTokenizer(model, bytes);

  it("loads with the family's shape: GQA, tied or untied output, the whole vocabulary", () => {
    expect(model.config.nHeads / model.config.nKvHeads).toBe(f.nHeads / f.nKvHeads);
    expect(model.config.vocabSize).toBe(f.vocab().pieces.length);
    expect(model.weights.classifier === model.weights.tokenEmbedding).toBe(f.tied);
    expect(model.config.ropeTheta).toBe(f.ropeTheta);
  });

  it("generates from a prompt and decodes what it generated", () => {
    const tf = new Transformer(model);
    const r = generate(tf, tok, "The capital of France is", { maxTokens: 8, temperature: 0 });
    expect(r.promptIds[0] === tok.bosId).toBe(tok.addBos);
    expect(r.tokens.length + (r.stopReason === "eos" ? 1 : 0)).toBeGreaterThan(0);
    expect(r.text).toBe(tok.decode([...r.promptIds, ...r.tokens]));
  });
});

/**
 * Llama 3's vocabulary in a model that always predicts token `target`: zero attention and
 * FFN outputs, every embedding the same positive vector, and an untied classifier whose only
 * non-zero row is `target` (set after loading, so one file serves every target).
 */
const forced = (() => {
  const vocab = llama3Vocab();
  const config: ModelConfig = { dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize: vocab.pieces.length, seqLen: 64, ropeTheta: 500000, normEps: 1e-5 };
  const z = (n: number) => new Float32Array(n);
  const weights = {
    tokenEmbedding: new Float32Array(config.vocabSize * config.dim).fill(0.5),
    layers: [{ attnNorm: z(16).fill(1), wq: z(256), wk: z(128), wv: z(128), wo: z(256), ffnNorm: z(16).fill(1), wGate: z(512), wDown: z(512), wUp: z(512) }],
    finalNorm: z(16).fill(1),
    classifier: z(config.vocabSize * config.dim),
  };
  const bytes = writeLlamaGguf({ config, weights }, { tokenizer: vocab });
  return { bytes, tok: loadTokenizer(loadModel(bytes), bytes), dim: config.dim };
})();

function alwaysPredicts(target: number) {
  const model = loadModel(forced.bytes);
  model.weights.classifier.fill(1, target * forced.dim, (target + 1) * forced.dim);
  return { tf: new Transformer(model), tok: forced.tok };
}

describe("generation stops on every end-of-turn token the file declares", () => {
  for (const [name, id] of [["<|eot_id|>", LLAMA3_EOT], ["<|eom_id|>", 128008]] as const) {
    it(`${name} ends the reply at once`, () => {
      const { tf, tok } = alwaysPredicts(id);
      const r = generate(tf, tok, "Hi", { maxTokens: 5, temperature: 0 });
      expect(r.stopReason).toBe("eos");
      expect(r.tokens).toEqual([]);
    });
  }
  it("a control token that does not end a turn is generated but prints nothing", () => {
    const { tf, tok } = alwaysPredicts(128006); // <|start_header_id|>
    const r = generate(tf, tok, "Hi", { maxTokens: 3, temperature: 0 });
    expect(r.stopReason).toBe("length");
    expect(r.tokens).toEqual([128006, 128006, 128006]);
    expect(r.completion).toBe("");
    expect(r.promptIds).toEqual([LLAMA3_BOS, ...llama3.encode("Hi", { bos: false, eos: false })]);
  });
});
