// The two workloads of the transfer bench, recording the masks a pruner installs:
// drift (a TinyStories story, then a State of the Union passage, one stream
// teacher-forced after a short prompt) and a multi-turn conversation (user turns
// alternating the two topics, each followed by greedy generation).
import type { Pruner } from "../../dart/pruner.ts";
import type { InferenceState, Transformer } from "../../engine/transformer.ts";
import type { Tokenizer } from "../../tokenizer/tokenizer.ts";
import { MaskRecorder } from "../mask-recorder.ts";
import { argmax } from "../../engine/sampler.ts";

export type PrunerMaker = (state: InferenceState) => Pruner;

function step(tf: Transformer, state: InferenceState, pruner: Pruner, rec: MaskRecorder, token: number, pos: number, phase: "prompt" | "decode"): Float32Array {
  pruner.beforeForward(pos, token, phase);
  rec.observe(state, pos);
  return tf.forward(state, token, pos, pruner.hooks);
}


/** `story` then `passage`, with the first `promptTokens` tokens as the user turn. */
export function runDrift(tf: Transformer, tok: Tokenizer, makePruner: PrunerMaker, story: string, passage: string, promptTokens = 32): MaskRecorder {
  const ids = [...tok.encode(story, { bos: true }), ...tok.encode(" " + passage, { bos: false })].slice(0, tf.config.seqLen);
  const state = tf.newState();
  const pruner = makePruner(state);
  const rec = new MaskRecorder();
  const n = Math.min(promptTokens, ids.length);
  pruner.beginTurn(0, n);
  ids.forEach((t, pos) => step(tf, state, pruner, rec, t, pos, pos < n ? "prompt" : "decode"));
  return rec;
}

/** Each turn: its text as a multi-token prefill, then `replyTokens` greedy tokens. */
export function runConversation(tf: Transformer, tok: Tokenizer, makePruner: PrunerMaker, turns: string[], replyTokens = 48): MaskRecorder {
  const state = tf.newState();
  const pruner = makePruner(state);
  const rec = new MaskRecorder();
  let pos = 0;
  for (const [i, text] of turns.entries()) {
    const ids = tok.encode(text, { bos: i === 0 });
    if (pos + ids.length + replyTokens > tf.config.seqLen) break;
    pruner.beginTurn(pos, ids.length);
    let logits!: Float32Array;
    for (const t of ids) logits = step(tf, state, pruner, rec, t, pos++, "prompt");
    for (let g = 0; g < replyTokens; g++) {
      const next = argmax(logits);
      logits = step(tf, state, pruner, rec, next, pos++, "decode");
    }
  }
  return rec;
}
