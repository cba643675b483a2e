// The whole stack int8 (dart serve --quant q8_0 / npm start -- --quant q8_0): the launcher cuts a
// q8_0 shard set (its own cache folder and R2 prefix, apart from the f32 set), a full and a
// sparse node load it through the gateway's /weights route and hold Q8_0, and a chat through
// the official openai client answers what the in-process Q8_0 engine generates from the file.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shardCacheDir } from "../../cli/weights-seed.ts";
import { generate } from "../../shared/engine/generate.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { parseManifest } from "../../shared/weights/manifest.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";
import { disposeFixtures, MODEL, startFixture, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodes: 1, sparseNodes: 1, quant: "q8_0" });
}, 180_000);
afterAll(async () => {
  await disposeFixtures();
});

const nodeStats = async (url: string) =>
  (await (await fetch(`${url}/stats`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } })).json()) as {
    role: string; ffn: { format: string }; weights: { source: string; dtype: string; ffnBytes: number } | null;
  };

describe("the stack with --quant q8_0", () => {
  it("seeds a q8_0 shard set under its own prefix and every node loads it and holds Q8_0", async () => {
    expect(f.stack.logs()).toMatch(/local R2 (already holds|under) stories260K-q8_0\//);
    const m = parseManifest(readFileSync(join(shardCacheDir(dataPath("stories260K.bin"), 1, "q8_0"), "manifest.json"), "utf8"));
    expect(m.dtype).toBe("q8_0");
    expect(m.ffnBytes).toBe(5 * 172 * 204);
    for (const n of f.stack.nodes) {
      const s = await nodeStats(n.url);
      expect(s.ffn.format, n.name).toBe("q8_0");
      expect(s.weights).toMatchObject({ source: `http ${f.stack.url}/weights/stories260K-q8_0/`, dtype: "q8_0", ffnBytes: m.ffnBytes });
    }
  });

  it("answers a chat as the Q8_0 engine does from the model file, not as the fp32 one", async () => {
    const { model, tok, tf } = stories();
    // A prompt whose 128 greedy tokens differ between Q8_0 and fp32 (most agree that long: +0.18% perplexity).
    const prompt = "Lily went to the park", opts = { maxTokens: 128, temperature: 0 };
    const want = generate(new Transformer(model, { weights: "q8_0" }), tok, prompt, opts).completion;
    expect(want).not.toBe(generate(tf, tok, prompt, opts).completion);
    const r = await f.client().chat.completions.create({
      model: MODEL, messages: [{ role: "user", content: prompt }], max_tokens: 128, temperature: 0, dart: { method: "dense" },
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(r.choices[0]!.message.content).toBe(want);
  });
});
