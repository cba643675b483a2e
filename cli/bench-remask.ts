// Times DART's mask builds on the decode path (npm run bench:remask -- [model] [repeats]):
// the mask at the end of a prompt (scores, top-k, mean-compensation bias) and a drift
// re-mask (the prior's masks), each as the pruner's beforeForward before a decoded token.
// Prints one JSON object: milliseconds per build, every repeat and the best.
// Synthetic priors as `dart bench --synthetic-priors` (a synthetic model has no text prior).
import { readLlama2cFile } from "./llama2c-stream.ts";
import { installSyntheticPriors } from "./commands/bench.ts";
import { promptIds } from "./bench-core.ts";
import { Transformer } from "../shared/engine/transformer.ts";
import { WasmBackend } from "../shared/engine/backend/wasm-backend.ts";
import { createPruner, parseDartSettings } from "../shared/dart/index.ts";
import type { MaskingPruner } from "../shared/dart/masking-pruner.ts";
import { prefillPrompt } from "../shared/engine/generate.ts";

const path = process.argv[2] ?? ".cache/stories110M.bin";
const repeats = Number(process.argv[3] ?? 7);
const be = new WasmBackend({ segmentBytes: 2 ** 31 });
const tf = new Transformer(readLlama2cFile(path, (n) => be.alloc(n)), { backend: be });
installSyntheticPriors(tf, 1);
const prompt = promptIds(8, tf.config.vocabSize);
const firstMs: number[] = [], remaskMs: number[] = [];
for (let r = 0; r < repeats + 1; r++) {
  const state = tf.newState();
  const p = createPruner(tf, state, parseDartSettings({ method: "dart", sparsity: 0.7 })) as MaskingPruner;
  prefillPrompt(tf, state, prompt, 0, { hooks: p.hooks, beforeForward: (pos, t, ph) => p.beforeForward(pos, t, ph) });
  let t = performance.now();
  p.beforeForward(prompt.length, 1, "decode"); // builds the prompt's masks
  const first = performance.now() - t;
  tf.forward(state, 1, prompt.length, p.hooks);
  p.pendingRemask = true; // as a drift check that fired
  t = performance.now();
  p.beforeForward(prompt.length + 1, 1, "decode");
  const remask = performance.now() - t;
  tf.releaseState(state);
  if (r === 0) continue; // the first round computes the per-model parts (prior output, prior plan)
  firstMs.push(first);
  remaskMs.push(remask);
}
const round = (v: number[]) => v.map((x) => +x.toFixed(2));
process.stdout.write(JSON.stringify({
  model: path, sparsity: 0.7,
  promptMaskMs: round(firstMs), promptMaskBestMs: +Math.min(...firstMs).toFixed(2),
  remaskMs: round(remaskMs), remaskBestMs: +Math.min(...remaskMs).toFixed(2),
}) + "\n");
