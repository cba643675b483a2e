// `dart bench`: benchmarks. In this branch only --transfer (weight-store bytes per
// context shift, cli/commands/bench-transfer.ts); other benches dispatch here too.
import * as transfer from "./bench-transfer.ts";
import { UsageError } from "../usage.ts";

export const usage = transfer.usage;

export async function run(argv: string[]): Promise<void> {
  if (argv.includes("--transfer")) return transfer.run(argv);
  throw new UsageError("pick a benchmark: --transfer");
}
