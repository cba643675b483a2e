import { createPruner } from "../../shared/dart/index.ts";
import { DEFAULT_DART_SETTINGS } from "../../shared/dart/settings.ts";
import { LLAMA_3_1_8B, tracerOverhead } from "../../shared/dart/overhead.ts";
import { loadBundle } from "../model-files.ts";
import { STATE_SHAPES } from "../../shared/dart/state-shape.ts";
import { turnTraffic } from "../../shared/dart/turn-traffic.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import { preparePriors } from "../priors-cache.ts";

export const usage = `dart overhead --model <file> [--json]
dart overhead --shape <${Object.keys(STATE_SHAPES).join("|")}> [--context 1024] [--new-tokens 32] [--generated 128] [--json]
  Tracer state bytes per session (measured after a traced turn) and tracer FLOPs per token
  as a fraction of the dense forward pass, for the model and computed for Llama-3.1-8B's shapes.
  --shape: the pruner state a session stores for that shape (stateBytes) and the bytes one turn
  moves between the Session object and its node (turnTransferBytes: steady state, the node holding
  the session's state; coldTurnTransferBytes: the state resent), from the real encodings;
  split: the same turn split between a full and a sparse node: turnTransferBytes between the Session
  object and the nodes in steady state (the trace's bulk goes node to node), nodeToNodeBytes apart,
  coldTurnTransferBytes (the full node lost the state) and inlineTurnTransferBytes (no handoff).`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, tokenizer: { type: "string" }, json: { type: "boolean" },
    shape: { type: "string" }, context: { type: "string" }, "new-tokens": { type: "string" }, generated: { type: "string" },
  });
  if (v.shape !== undefined) return runShape(v);
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

function runShape(v: Record<string, string | boolean | undefined>): void {
  const name = v.shape as string;
  const config = STATE_SHAPES[name];
  if (!config) throw new UsageError(`unknown --shape "${name}" (one of ${Object.keys(STATE_SHAPES).join(", ")})`);
  const opts = {
    contextTokens: numberFlag(v, "context", 1024, { integer: true, min: 0 }),
    newTokens: numberFlag(v, "new-tokens", 32, { integer: true, min: 1 }),
    generatedTokens: numberFlag(v, "generated", 128, { integer: true, min: 1 }),
  };
  const out = { shape: name, config, turn: opts, ...turnTraffic(config, opts) };
  if (v.json) process.stdout.write(JSON.stringify(out) + "\n");
  else {
    const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
    process.stdout.write(`${name}: state ${kib(out.stateBytes)} (a trace left open: ${kib(out.tracingStateBytes)}); per turn ${kib(out.turnTransferBytes)} ` +
      `(to node ${kib(out.toNodeBytes)}, from node ${kib(out.fromNodeBytes)}), ${kib(out.coldTurnTransferBytes)} when the state is resent; ` +
      `split ${kib(out.split.turnTransferBytes)} (node to node ${kib(out.split.nodeToNodeBytes)}, of which KV ${kib(out.split.kvHandoffBytes)}; ` +
      `${kib(out.split.inlineTurnTransferBytes)} without a handoff)\n`);
  }
}
