// Batched prefill (prompt tokens in blocks, matrix-matrix products) against forward()
// token by token: same logits, same KV cache, the same hook calls in the same order.
import { describe, expect, it } from "vitest";
import { compactOf } from "../../shared/engine/compact-ffn.ts";
import { PREFILL_BLOCK, Transformer } from "../../shared/engine/transformer.ts";
import type { ForwardHooks } from "../../shared/engine/hooks.ts";
import { stories } from "../helpers/model-dir.ts";
import { keepSome, relErr, tinyModel } from "./helpers.ts";

/** Records hook calls per position, in call order (a block interleaves its tokens layer by layer). */
function recorder(log: Map<number, string[]>, values: Map<number, number[]>): ForwardHooks {
  const put = (name: string) => (l: number, pos: number, a: Float32Array) => {
    if (!log.has(pos)) (log.set(pos, []), values.set(pos, []));
    log.get(pos)!.push(`${name} ${l} ${a.length}`);
    values.get(pos)!.push(...a.subarray(0, 4));
  };
  return { attnOutput: put("attn"), ffnInput: put("in"), ffnActivation: put("act"), ffnOutput: put("out") };
}

describe("batched prefill", () => {
  const { model, tok } = stories();
  const ids = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the sun with her dog. ".repeat(4), { bos: true });

  it.each(["ts", "wasm"] as const)("%s: equals forward() token by token across block boundaries, after a cached prefix", (backend) => {
    expect(ids.length).toBeGreaterThan(PREFILL_BLOCK + 3);
    const tf = new Transformer(model, { backend });
    const [a, b] = [tf.newState(), tf.newState()];
    const [logA, logB] = [new Map<number, string[]>(), new Map<number, string[]>()];
    const [valA, valB] = [new Map<number, number[]>(), new Map<number, number[]>()];
    let want = new Float32Array(0);
    ids.forEach((t, pos) => (want = tf.forward(a, t, pos, recorder(logA, valA)).slice()));
    tf.forward(b, ids[0]!, 0, recorder(logB, valB)); // a cached prefix of one token
    const got = tf.prefill(b, ids.slice(1), 1, recorder(logB, valB));
    expect(relErr(got, want)).toBeLessThan(1e-4);
    expect(logA.size).toBe(ids.length);
    for (const [pos, calls] of logA) {
      expect(logB.get(pos)).toEqual(calls); // each token's layers, in forward()'s order
      expect(relErr(Float32Array.from(valB.get(pos)!), Float32Array.from(valA.get(pos)!))).toBeLessThan(1e-4);
    }
    const kvEnd = model.config.nLayers * model.config.seqLen * model.config.nKvHeads * (model.config.dim / model.config.nHeads);
    expect(relErr(b.keyCache.subarray(0, kvEnd), a.keyCache.subarray(0, kvEnd))).toBeLessThan(1e-4);
    // Decoding continues from the prefilled cache as from the sequential one.
    expect(relErr(tf.forward(b, 42, ids.length), tf.forward(a, 42, ids.length))).toBeLessThan(1e-4);
  });

  it("runs the state's masks, and a grouped-query shape", () => {
    const m = tinyModel(7);
    const tf = new Transformer(m, { backend: "wasm" });
    const toks = Array.from({ length: 31 }, (_, i) => (i * 37 + 1) % m.config.vocabSize);
    const [a, b] = [tf.newState(), tf.newState()];
    for (let l = 0; l < m.config.nLayers; l++) {
      const kept = keepSome(m.config.hiddenDim, 0.4, l);
      a.ffn[l] = compactOf(tf.ffn[l]!, kept);
      b.ffn[l] = compactOf(tf.ffn[l]!, kept);
    }
    let want = new Float32Array(0);
    toks.forEach((t, pos) => (want = tf.forward(a, t, pos).slice()));
    expect(relErr(tf.prefill(b, toks, 0), want)).toBeLessThan(1e-4);
    expect(() => tf.prefill(b, [1, 2], m.config.seqLen - 1)).toThrow(/context length/);
  });
});

describe("batched prompt under a DART pruner", () => {
  it("builds the same masks and generates the same tokens as the token-by-token prompt", async () => {
    const { createPruner, parseDartSettings } = await import("../../shared/dart/index.ts");
    const { generateFromIds } = await import("../../shared/engine/generate.ts");
    const { tf, tok } = stories();
    const ids = tok.encode("Tom had a red ball. He threw it to his friend Sam, who ran after it across the big green park", { bos: true });
    const run = (batchPrompt: boolean) => {
      const state = tf.newState();
      const pruner = createPruner(tf, state, parseDartSettings({ method: "dart", sparsity: 0.5 }));
      pruner.beginTurn(0, ids.length);
      const r = generateFromIds(tf, tok, ids, state, {
        maxTokens: 12, temperature: 0, hooks: pruner.hooks, batchPrompt,
        beforeForward: (p, t, ph) => pruner.beforeForward(p, t, ph),
      });
      return { tokens: r.tokens, kept: state.ffn.map((f) => Array.from(f?.kept ?? [])), stats: pruner.stats() };
    };
    const [seq, batched] = [run(false), run(true)];
    expect(batched.tokens).toEqual(seq.tokens);
    expect(batched.kept).toEqual(seq.kept);
    expect(batched.kept.every((k) => k.length > 0 && k.length < tf.config.hiddenDim)).toBe(true);
    expect(batched.stats).toEqual(seq.stats);
  });
});
