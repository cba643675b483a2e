// `dart routing-bench`: bytes fetched per turn by two sparse nodes under overlap routing and
// under rendezvous hashing, side by side in one run (cli/routing-bench.ts).
import { join } from "node:path";
import { modelDir } from "../model-dir.ts";
import { routingBench } from "../routing-bench.ts";
import { numberFlag, parseFlags } from "../usage.ts";

export const usage = `dart routing-bench [--model <file>] [--sessions 16] [--turns 4] [--max-tokens 16] [--sparsity 0.5] [--budget-share 0.5|none]
  Two sparse nodes, one full node, in-process on real node code: --sessions concurrent dart
  sessions of mixed topics (TinyStories, State of the Union, some switching each turn), each
  turn traced and then decoded on the sparse node chosen by mask overlap, and again by
  rendezvous hashing. Prints one JSON object (--json accepted): bytes fetched per turn under each policy.
  --budget-share: each sparse node's resident FFN budget as a share of the FFN (default 0.5).`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" }, sessions: { type: "string" }, turns: { type: "string" }, "max-tokens": { type: "string" },
    sparsity: { type: "string" }, "budget-share": { type: "string" }, json: { type: "boolean" },
  });
  const result = await routingBench(v.model ?? join(modelDir(), "stories260K.bin"), modelDir(), {
    sessions: numberFlag(v, "sessions", 16, { integer: true, min: 1, max: 64 }),
    turns: numberFlag(v, "turns", 4, { integer: true, min: 1, max: 16 }),
    maxTokens: numberFlag(v, "max-tokens", 16, { integer: true, min: 1 }),
    sparsity: numberFlag(v, "sparsity", 0.5, { min: 0, max: 0.95 }),
    budgetShare: v["budget-share"] === "none" ? Infinity : numberFlag(v, "budget-share", 0.5, { min: 0.01, max: 1 }),
  });
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
}
