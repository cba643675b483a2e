// The real stack serving a SmolLM2-Instruct-style GGUF file, as `npm start -- --model F --ctx N`
// does: the file has SmolLM2's keys, ChatML template with <|im_start|>/<|im_end|> control tokens,
// a real byte-level BPE vocabulary (GPT-2's, 50,259 tokens with the two), an untied 50K
// classifier, and weights made so the reply is known: " Hello" after any other token, then
// <|im_end|>. `dart prepare` computes DART's priors first; the launcher shards the file into the
// local weight store; a full and a sparse node load it from there; the official openai client
// talks to the gateway. (Llama 3's 128K vocabulary takes the same path; its self prior costs
// minutes here, so the in-process tests cover it: test/engine/real-model-files.test.ts.)
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ModelConfig } from "../../shared/model/config.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { SMOLLM2_TEMPLATE, smollmVocab } from "../helpers/family-gguf.ts";
import { dart } from "../helpers/run-cli.ts";
import { disposeFixtures, KEY_A, nodeTurns, startFixture, type Fixture } from "./stack-fixture.ts";

const CTX = 256;
const CONTEXT_LENGTH = 8192; // SmolLM2's
const vocab = smollmVocab();
const H = vocab.pieces.indexOf("\u0120Hello"); // " Hello" in GPT-2's byte-level alphabet
const IM_END = vocab.pieces.indexOf("<|im_end|>");
if (H < 0 || IM_END !== vocab.eosId) throw new Error("unexpected SmolLM vocabulary");

/**
 * Attention and FFN add nothing (zero W_o and W_down), so the logits depend on the current
 * token alone: every embedding is e0 except " Hello"'s, which is e1; the classifier maps e0 to
 * " Hello" and e1 to <|im_end|>.
 */
function helloThenEnd(): Uint8Array {
  const config: ModelConfig = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 1, vocabSize: vocab.pieces.length, seqLen: CONTEXT_LENGTH, ropeTheta: 100000, normEps: 1e-5 };
  const { dim, hiddenDim: hidden, vocabSize: V } = config;
  const kv = dim / 4;
  const z = (n: number) => new Float32Array(n);
  const small = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.1);
  const tokenEmbedding = z(V * dim);
  for (let t = 0; t < V; t++) tokenEmbedding[t * dim + (t === H ? 1 : 0)] = 1;
  const classifier = z(V * dim);
  classifier[H * dim + 0] = 1;
  classifier[IM_END * dim + 1] = 1;
  const layer = () => ({
    attnNorm: z(dim).fill(1), wq: small(dim * dim), wk: small(kv * dim), wv: small(kv * dim), wo: z(dim * dim),
    ffnNorm: z(dim).fill(1), wGate: small(hidden * dim), wUp: small(hidden * dim), wDown: z(dim * hidden),
  });
  return writeLlamaGguf(
    { config, weights: { tokenEmbedding, layers: [layer(), layer()], finalNorm: z(dim).fill(1), classifier } },
    { tokenizer: vocab, metadata: [["tokenizer.chat_template", { type: "string", value: SMOLLM2_TEMPLATE }]] },
  );
}

let f: Fixture;
/** The id the gateway serves the model under (GET /v1/models). */
const modelId = async () => (await f.client().models.list()).data[0]!.id;
let dir: string;
let prepared: { code: number | null; stdout: string; stderr: string };
beforeAll(async () => {
  const bytes = helloThenEnd();
  dir = mkdtempSync(join(tmpdir(), "dart-family-"));
  // Named by content: the launcher caches shard sets by file name.
  const path = join(dir, `smollm2-hello-${createHash("sha256").update(bytes).digest("hex").slice(0, 12)}.gguf`);
  writeFileSync(path, bytes);
  // A fresh priors cache, so that prepare computes and the nodes (which inherit it) read.
  process.env.DART_CACHE_DIR = join(dir, "dart-cache");
  // DART's priors once per model (cached by sha256, .cache/dart): the nodes find them there.
  prepared = dart(["prepare", "--model", path, "--json"], { timeout: 200_000 });
  f = await startFixture({ modelPath: path, nodes: 1, sparseNodes: 1, ctx: CTX });
}, 420_000);
afterAll(async () => {
  await disposeFixtures();
  delete process.env.DART_CACHE_DIR;
  rmSync(dir, { recursive: true, force: true });
});

describe("a SmolLM2-style GGUF file on the real stack", () => {
  it("dart prepare computed its priors with a sampled vocabulary, and the full node read them from the cache", () => {
    expect(prepared.stderr).toMatch(/vocabulary 50259 \(proxy samples 4096 rows\)/);
    expect(prepared.stderr).toMatch(/generic prior "self" \(tokens\) 2048\/2048/);
    expect(prepared.code).toBe(0);
    const out = JSON.parse(prepared.stdout) as { vocabRows: number; files: Record<string, string> };
    expect(out.vocabRows).toBe(4096);
    for (const file of Object.values(out.files)) expect(existsSync(file)).toBe(true);
    expect(f.stack.logs()).toMatch(/\[node-1\] engine ready \(weights f32, warm-up \d+ ms; DART priors generic-self cached\)/);
  });

  it("nodes load it from the weight store with a KV cache of --ctx positions, not the file's context_length", async () => {
    expect(f.stack.logs()).toMatch(/weights: (seeded \d+ objects|local R2 already holds)/);
    expect(f.stack.nodes.map((n) => n.role).sort()).toEqual(["full", "sparse"]);
    for (const n of f.stack.nodes) {
      const health = (await (await fetch(`${n.url}/healthz`)).json()) as { model: { seqLen: number; vocabSize: number } };
      expect(health.model).toMatchObject({ seqLen: CTX, vocabSize: vocab.pieces.length });
    }
  });

  it("is served under the file's name, not the default model's, and the default model is not found", async () => {
    const name = basename(f.options.modelPath).replace(/\.gguf$/, "");
    expect(name).toMatch(/^smollm2-hello-/);
    expect(await modelId()).toBe(name);
    expect(f.stack.model).toBe(name);
    const err = await f.client().chat.completions.create({ model: "stories260K", messages: [{ role: "user", content: "Hi" }], max_tokens: 2 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: "model_not_found" });
  });

  it("the openai client gets the reply, ended by <|im_end|> (finish_reason stop, the token not in the text)", async () => {
    const c = await f.client().chat.completions.create({ model: await modelId(), messages: [{ role: "user", content: "Hi" }], max_tokens: 20, temperature: 0 });
    expect(c.choices[0]!.message.content).toBe(" Hello");
    expect(c.choices[0]!.finish_reason).toBe("stop");
    expect(c.usage!.completion_tokens).toBeLessThanOrEqual(2); // " Hello" (and the end token), not max_tokens
    const turns = (await Promise.all(f.stack.nodes.map((n) => nodeTurns(n.url, f.stack.metricsToken)))).flat();
    expect(turns.some((t) => t.stopReason === "eos")).toBe(true);
  });

  it("streams the same reply and stops the same way", async () => {
    const stream = await f.client().chat.completions.create({ model: await modelId(), messages: [{ role: "user", content: "Hey there" }], max_tokens: 20, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe(" Hello");
    expect(finish).toBe("stop");
  });

  it("a turn longer than --ctx is a 400 context_length_exceeded, and the session still answers", async () => {
    const long = "word ".repeat(CTX + 50);
    const err = await f.client().chat.completions.create({ model: await modelId(), messages: [{ role: "user", content: long }], max_tokens: 8 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(400);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe("context_length_exceeded");
    expect((err as Error).message).toMatch(new RegExp(`context is ${CTX} tokens`));
    const ok = await f.client(KEY_A).chat.completions.create({ model: await modelId(), messages: [{ role: "user", content: "Hi" }], max_tokens: 4, temperature: 0 });
    expect(ok.choices[0]!.message.content).toBe(" Hello");
  });
});
