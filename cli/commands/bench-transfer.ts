// `dart bench --transfer`: bytes a node moves per context shift when it loads
// only the FFN neuron shards of the masks a pruner installs.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createPruner, parseDartSettings, type DartSettings } from "../../shared/dart/index.ts";
import { intervalMagnitudePruner, INTERVAL_PRUNER_NAME } from "../../shared/weights/bench/interval-pruner.ts";
import { runConversation, runDrift, type PrunerMaker } from "../../shared/weights/bench/protocols.ts";
import { activationOrder } from "../../shared/weights/neuron-order.ts";
import { measureTransfer, randomMasksLike, type TransferStats } from "../../shared/weights/transfer.ts";
import { SHARD_DTYPES, type ShardDtype } from "../../shared/weights/dtype-codec.ts";
import { loadBundle } from "../model-files.ts";
import { numberFlag, parseFlags, required, UsageError } from "../usage.ts";
import { progress } from "../progress.ts";

export const usage = `dart bench --transfer --model <file> [--method M] [--sparsity S] [--masking-step N]
           [--neurons-per-shard N] [--shard-sizes 1,4,16,64] [--dtype f32[,q8_0]] [--data-dir DIR] [--json]
  Runs the drift protocol (a TinyStories story, then a State of the Union passage) and a
  four-turn conversation with the pruner of --method (default dart; "${INTERVAL_PRUNER_NAME}"
  is a bench stand-in that re-masks every 32 tokens, not a DART method), records every mask,
  and reports per shard size the bytes per context shift: deltaBytesPerShift (shards the new
  mask needs that the previous mask lacks, median), newMaskBytes (the whole new mask, median),
  ffnBytes, and the same masks through an LRU store. Texts come from --data-dir (default:
  the model's folder): tinystories-valid-dev.txt and sotu-2016-2019.txt.
  --dtype: the shard sets' dtype (default f32); a list (f32,q8_0) replays the same masks
  through a set of each and adds \`dtypes\`: per dtype and shard size the bytes per shard,
  per shift and per first mask (the first dtype fills the fields above).`;

/** The `index`-th story starting "Once upon a time", cut at a sentence end near `maxChars`. */
function story(text: string, index: number, maxChars: number): string {
  const parts = text.split(/(?=Once upon a time)/).filter((p) => p.startsWith("Once upon a time"));
  if (parts.length === 0) throw new UsageError("no story starting 'Once upon a time' in the TinyStories text");
  return cut(parts[index % parts.length]!.replace(/\s+/g, " ").trim(), maxChars);
}

function cut(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  const end = text.lastIndexOf(". ", maxChars);
  return text.slice(0, end > maxChars / 3 ? end + 1 : maxChars);
}

function readText(dir: string, name: string): string {
  const p = join(dir, name);
  if (!existsSync(p)) throw new UsageError(`text not found: ${p} (pass --data-dir)`);
  return readFileSync(p, "utf8");
}

function summary(s: TransferStats) {
  return {
    ...s,
    deltaOverNewMask: s.newMaskBytes ? s.deltaBytesPerShift / s.newMaskBytes : 0,
    deltaOverFfn: s.deltaBytesPerShift / s.ffnBytes,
    newMaskOverFfn: s.newMaskBytes / s.ffnBytes,
  };
}

export async function run(argv: string[]): Promise<void> {
  const v = parseFlags(argv.filter((a) => a !== "--transfer"), {
    model: { type: "string" },
    tokenizer: { type: "string" },
    method: { type: "string" },
    sparsity: { type: "string" },
    "masking-step": { type: "string" },
    "neurons-per-shard": { type: "string" },
    "shard-sizes": { type: "string" },
    dtype: { type: "string" },
    "data-dir": { type: "string" },
    json: { type: "boolean" },
  });
  const modelPath = required(v, "model");
  const n = numberFlag(v, "neurons-per-shard", 1, { integer: true, min: 1 });
  const sizes = [...new Set([...(v["shard-sizes"] ?? "1,4,16,64").split(",").map((x) => Number(x)), n])].sort((a, b) => a - b);
  if (sizes.some((x) => !Number.isInteger(x) || x < 1)) throw new UsageError("--shard-sizes must be positive integers, comma-separated");
  const dtypes = (v.dtype ?? "f32").split(",") as ShardDtype[];
  if (dtypes.some((d) => !SHARD_DTYPES.includes(d))) throw new UsageError(`--dtype must list some of ${SHARD_DTYPES.join(", ")}`);
  const method = v.method ?? "dart";
  const sparsity = numberFlag(v, "sparsity", 0.5, { min: 0, max: 0.9 });
  const raw: Record<string, unknown> = { sparsity };
  if (v["masking-step"] !== undefined) raw.maskingStep = numberFlag(v, "masking-step", 10, { integer: true, min: 1 });
  if (method !== INTERVAL_PRUNER_NAME) raw.method = method;
  let settings: DartSettings;
  try {
    settings = parseDartSettings(raw);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }

  const { model, transformer: tf, tokenizer: tok } = loadBundle(modelPath, v.tokenizer);
  const makePruner: PrunerMaker =
    method === INTERVAL_PRUNER_NAME ? (state) => intervalMagnitudePruner(tf, state, settings) : (state) => createPruner(tf, state, settings);
  try {
    makePruner(tf.newState());
  } catch (e) {
    throw new UsageError(`${(e as Error).message} (for a stand-in mask source use --method ${INTERVAL_PRUNER_NAME})`);
  }

  const dataDir = v["data-dir"] ?? dirname(modelPath);
  const stories = readText(dataDir, "tinystories-valid-dev.txt");
  const sotu = readText(dataDir, "sotu-2016-2019.txt").replace(/\s+/g, " ");
  const show = progress("bench", v.json === true);
  // Steps: the drift protocol, the conversation, the activation order, then 3 measurements per shard size.
  const steps = 3 + (2 + dtypes.length) * sizes.length;
  let step = 0;
  const tick = () => show(++step, steps, "steps");
  show(0, steps, "steps");
  const t0 = performance.now();
  const drift = runDrift(tf, tok, makePruner, story(stories, 1, 1000), cut(sotu, 1400));
  tick();
  // Short turns (about 40 tokens) and 64-token replies: four turns fit the 512-token context.
  const convo = runConversation(tf, tok, makePruner, [
    story(stories, 2, 130),
    cut(sotu.slice(4000), 130),
    story(stories, 3, 130),
    cut(sotu.slice(20000), 130),
  ], 64);
  tick();
  const sequences = [drift.masks, convo.masks];
  // Activation-ordered layout, from TinyStories text the protocols do not use.
  const order = activationOrder(tf, tok.encode(cut(stories.slice(200_000).replace(/\s+/g, " "), 2000), { bos: true }));
  tick();
  const brief = (s: ReturnType<typeof summary>) => ({
    deltaBytesPerShift: s.deltaBytesPerShift, newMaskBytes: s.newMaskBytes, deltaOverNewMask: s.deltaOverNewMask, deltaOverFfn: s.deltaOverFfn,
    newMaskOverFfn: s.newMaskOverFfn, lruFetchedBytesPerShift: s.lru.fetchedBytesPerShift,
  });
  const perSize = [];
  const byDtype: Pick<TransferStats, "dtype" | "neuronsPerShard" | "shardBytes" | "ffnBytes" | "deltaBytesPerShift" | "newMaskBytes" | "firstMaskBytes">[] = [];
  for (const size of sizes) {
    const real = summary(await measureTransfer(model, sequences, size, 0.75, undefined, dtypes[0]));
    tick();
    const ordered = summary(await measureTransfer(model, sequences, size, 0.75, order, dtypes[0]));
    tick();
    const rnd = summary(await measureTransfer(model, sequences.map((s, i) => randomMasksLike(s, tf.config.hiddenDim, 7 + i)), size, 0.75, undefined, dtypes[0]));
    tick();
    perSize.push({ ...real, activationOrdered: brief(ordered), randomMasks: brief(rnd) });
    for (const dtype of dtypes) {
      // The same masks through a set of each dtype: what moves per shift is the dtype's bytes of the same shards.
      const s = dtype === dtypes[0] ? real : await measureTransfer(model, sequences, size, 0.75, undefined, dtype);
      if (dtype !== dtypes[0]) tick();
      const { shardBytes, ffnBytes, deltaBytesPerShift, newMaskBytes, firstMaskBytes } = s;
      byDtype.push({ dtype, neuronsPerShard: size, shardBytes, ffnBytes, deltaBytesPerShift, newMaskBytes, firstMaskBytes });
    }
  }
  show.done();
  const chosen = perSize.find((p) => p.neuronsPerShard === n)!;
  const out = {
    model: modelPath,
    method,
    sparsity,
    maskingStep: settings.maskingStep,
    neuronsPerShard: n,
    shifts: chosen.shifts,
    deltaBytesPerShift: chosen.deltaBytesPerShift,
    newMaskBytes: chosen.newMaskBytes,
    ffnBytes: chosen.ffnBytes,
    deltaOverNewMask: chosen.deltaOverNewMask,
    protocols: {
      drift: { tokens: drift.tokens, denseTokens: drift.denseTokens, masks: drift.masks.length, maskPositions: drift.positions },
      conversation: { tokens: convo.tokens, denseTokens: convo.denseTokens, masks: convo.masks.length, maskPositions: convo.positions },
    },
    shardSizes: perSize,
    ...(dtypes.length > 1 ? { dtypes: byDtype } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
  if (v.json) {
    process.stdout.write(JSON.stringify(out) + "\n");
    return;
  }
  const kb = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  process.stdout.write(
    `${method} at sparsity ${sparsity}: ${out.shifts} shifts (drift ${drift.masks.length} masks over ${drift.tokens} tokens, ` +
      `conversation ${convo.masks.length} masks over ${convo.tokens} tokens); FFN ${kb(chosen.ffnBytes)}\n`,
  );
  for (const p of perSize) {
    process.stdout.write(
      `  N=${String(p.neuronsPerShard).padStart(3)}: delta/shift ${kb(p.deltaBytesPerShift)} (${(100 * p.deltaOverNewMask).toFixed(0)}% of new mask ${kb(p.newMaskBytes)}, ` +
        `${(100 * p.deltaOverFfn).toFixed(0)}% of FFN); random masks ${(100 * p.randomMasks.deltaOverNewMask).toFixed(0)}%; LRU fetched/shift ${kb(p.lru.fetchedBytesPerShift)}\n` +
        `         activation-ordered layout: delta/shift ${kb(p.activationOrdered.deltaBytesPerShift)}, new mask ${kb(p.activationOrdered.newMaskBytes)} ` +
        `(${(100 * p.activationOrdered.newMaskOverFfn).toFixed(0)}% of FFN)\n`,
    );
  }
  if (dtypes.length > 1) {
    for (const d of byDtype) {
      process.stdout.write(`  ${d.dtype.padEnd(5)} N=${String(d.neuronsPerShard).padStart(3)}: ${d.shardBytes} B a shard, delta/shift ${kb(d.deltaBytesPerShift)}, new mask ${kb(d.newMaskBytes)}, FFN ${kb(d.ffnBytes)}\n`);
    }
  }
}
