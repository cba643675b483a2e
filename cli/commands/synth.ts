import { SHAPES, writeSynthModel } from "../synth-model.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";

export const usage = `dart synth --shape <${Object.keys(SHAPES).join("|")}> --out <file> [--seed <s>] [--json]
  Writes seeded random weights in llama2.c format at a real model's shape (for speed
  measurements only: never measure quality on them). Streams, so big shapes need no big buffer.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, { shape: { type: "string" }, out: { type: "string" }, seed: { type: "string" }, json: { type: "boolean" } });
  const name = required(v, "shape");
  const out = required(v, "out");
  const seed = numberFlag(v, "seed", 1, { integer: true, min: 0 });
  const shape = SHAPES[name];
  if (!shape) throw new UsageError(`unknown shape "${name}": use one of ${Object.keys(SHAPES).join(", ")}`);
  const t0 = performance.now();
  const bytes = writeSynthModel(out, shape, seed);
  const info = { shape: name, out, seed, bytes, config: shape, seconds: (performance.now() - t0) / 1000 };
  process.stdout.write(v.json ? JSON.stringify(info) + "\n" : `wrote ${out}: ${name}, ${(bytes / 1e9).toFixed(2)} GB, seed ${seed}\n`);
}
