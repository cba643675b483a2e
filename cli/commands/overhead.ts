import { createPruner } from "../../shared/dart/index.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { LLAMA_3_1_8B, tracerOverhead } from "../../shared/dart/overhead.ts";
import { loadBundle } from "../model-files.ts";
import { parseFlags, required } from "../usage.ts";
import { preparePriors } from "../priors-cache.ts";

export const usage = `dart overhead --model <file> [--json]
  Tracer state bytes per session (measured after a traced turn) and tracer FLOPs per token
  as a fraction of the dense forward pass, for the model and computed for Llama-3.1-8B's shapes.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, { model: { type: "string" }, tokenizer: { type: "string" }, json: { type: "boolean" } });
  const { transformer: tf, tokenizer: tok, bytes } = loadBundle(required(v, "model"), v.tokenizer);
  preparePriors(tf, tok, bytes, { proxy: true, generic: ["self"] });
  const measured: Record<string, number> = {};
  for (const method of ["dart", "dart-paper"] as const) {
    const state = tf.newState();
    const p = createPruner(tf, state, { ...DEFAULT_DART_SETTINGS, method, sparsity: 0.5 });
    const ids = tok.encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
    p.beginTurn(0, ids.length);
    let token = ids[0]!;
    for (let pos = 0; pos < 128; pos++) {
      const phase = pos < ids.length - 1 ? "prompt" : "decode";
      token = pos < ids.length ? ids[pos]! : token;
      p.beforeForward(pos, token, phase);
      const logits = tf.forward(state, token, pos, p.hooks);
      if (pos >= ids.length - 1) token = logits.indexOf(Math.max(...logits));
    }
    measured[method] = p.serialize().byteLength;
  }
  const out = {
    model: { config: tf.config, measuredStateBytes: measured, ...tracerOverhead(tf.config) },
    llama31_8b: { config: LLAMA_3_1_8B, ...tracerOverhead(LLAMA_3_1_8B, 2048) },
  };
  if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
  else {
    const row = (name: string, o: ReturnType<typeof tracerOverhead>) =>
      `${name}: state <= ${(o.stateBytes / 1024).toFixed(1)} KiB, tracer ${(100 * o.tracedFraction).toFixed(4)}% of a dense forward per traced token, ${(100 * o.maskedFraction).toFixed(5)}% per masked token\n`;
    process.stdout.write(`measured state after a 128-token traced turn: ${Object.entries(measured).map(([m, b]) => `${m} ${b} bytes`).join(", ")}\n`);
    process.stdout.write(row("this model", out.model));
    process.stdout.write(row("Llama-3.1-8B shapes (position 2048)", out.llama31_8b));
  }
}
