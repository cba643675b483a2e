import { existsSync, readFileSync } from "node:fs";
import { activationOrder } from "../../shared/weights/neuron-order.ts";
import { SHARD_DTYPES, type ShardDtype } from "../../shared/weights/dtype-codec.ts";
import { FolderSource } from "../../workers/weights/folder-source.ts";
import { loadBundle } from "../model-files.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import { shardModelToFolder } from "../weights-seed.ts";
import { progress } from "../progress.ts";

export const usage = `dart shard --model <file> --out <dir> [--neurons-per-shard N] [--dtype f32|f16|bf16|q8_0]
           [--order-text <file> [--order-tokens N]] [--no-priors] [--json]
  Writes the weight store's objects into <dir>: manifest.json, base.bin (embeddings,
  attention, norms, classifier), tokenizer.json and ffn/<layer>/<shard>.bin, each
  bundling the gate row, up row and down column of N FFN neurons (default N = 1):
  consecutive neurons, or with --order-text neurons ordered by activation L2 over that
  text (a layout that makes masks touch fewer shards; the model computes the same).
  The base blob also carries DART's forward proxy (g_max, g_mean) and W_down column
  norms per layer, unless --no-priors. Upload with \`dart shard-upload --dir <dir>\`.
  --dtype: default the model's own when exact (f16/bf16 files), else f32. q8_0 stores the FFN
  shards and the base matrices in Q8_0 (about 3.8x fewer bytes than f32; dim must be a multiple
  of 32): a GGUF file's q8_0 tensors as they are, other files quantized once as --weights q8_0
  does at load. Nodes serve a q8_0 set with int8 kernels.`;

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    model: { type: "string" },
    tokenizer: { type: "string" },
    out: { type: "string" },
    "neurons-per-shard": { type: "string" },
    dtype: { type: "string" },
    "order-text": { type: "string" },
    "order-tokens": { type: "string" },
    "no-priors": { type: "boolean" },
    json: { type: "boolean" },
  });
  const modelPath = required(v, "model");
  const out = required(v, "out");
  // Default 1: a scattered 50% mask touches nearly every shard of 4+ neurons (docs/transfer.md).
  const n = numberFlag(v, "neurons-per-shard", 1, { integer: true, min: 1 });
  if (v.dtype !== undefined && !(SHARD_DTYPES as readonly string[]).includes(v.dtype)) {
    throw new UsageError(`--dtype must be one of ${SHARD_DTYPES.join(", ")}`);
  }
  let order: Int32Array[] | undefined;
  if (v["order-text"] !== undefined) {
    if (!existsSync(v["order-text"])) throw new UsageError(`text not found: ${v["order-text"]}`);
    const { model, transformer, tokenizer } = loadBundle(modelPath, v.tokenizer);
    const max = numberFlag(v, "order-tokens", model.config.seqLen, { integer: true, min: 1 });
    order = activationOrder(transformer, tokenizer.encode(readFileSync(v["order-text"], "utf8"), { bos: true }).slice(0, max));
  }
  const show = progress("shard", v.json === true);
  const m = await shardModelToFolder(modelPath, out, {
    onObject: (d, t) => show(d, t, "objects"),
    neuronsPerShard: n,
    dtype: v.dtype as ShardDtype | undefined,
    order,
    tokenizerPath: v.tokenizer,
    noPriors: v["no-priors"],
  });
  show.done();
  const root = new FolderSource(out).root;
  const shards = m.layers.reduce((s, l) => s + l.length, 0);
  const summary = { out: root, dtype: m.dtype, neuronsPerShard: n, baseBytes: m.base.bytes, shards, ffnBytes: m.ffnBytes, forwardProxy: m.forwardProxy, ordered: m.neuronOrder !== null };
  if (v.json) process.stdout.write(JSON.stringify(summary) + "\n");
  else process.stdout.write(`wrote ${root}: base ${m.base.bytes} bytes, ${shards} FFN shards of <= ${n} neurons (${m.ffnBytes} bytes, ${m.dtype})\n`);
}
