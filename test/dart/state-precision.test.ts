// Precision of the stored tracer statistics. A session saved in the middle of a trace must
// build exactly the masks it would have built unsaved: checked on the project's evaluation
// sets, splitting each document's run inside the prompt trace, inside dart-paper's decode
// trace and later (re-traces after drift), for every method that traces. The same splits
// with the per-neuron accumulators rounded to f16 precision (11 significant bits, any
// exponent: the best a per-row scaled f16 could do) change masks, which is why the state
// keeps them in f32 (they are stored only while a trace is open, see masking-pruner.ts).
import { describe, expect, it } from "vitest";
import { createPruner, DEFAULT_DART_SETTINGS, type DartSettings, type Pruner } from "../../shared/dart/index.ts";
import type { MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import type { InferenceState } from "../../shared/engine/transformer.ts";
import { buildSet } from "../../cli/eval-sets.ts";
import { MODEL_DIR, stories } from "../helpers/model-dir.ts";

const { tf, tok } = stories("bin");

/** v rounded to 11 significant bits (f16's mantissa, without its exponent limits). */
const toF16Precision = (v: number) => {
  if (v === 0 || !Number.isFinite(v)) return v;
  const q = 2 ** (Math.floor(Math.log2(Math.abs(v))) - 10);
  return Math.round(v / q) * q;
};

/** Teacher-forced run of `ids` from `from` to `to`; logs each step's kept sets. */
function run(p: Pruner, st: InferenceState, ids: number[], promptLen: number, from: number, to: number, log: string[]): void {
  for (let pos = from; pos < to; pos++) {
    p.beforeForward(pos, ids[pos]!, pos < promptLen - 1 ? "prompt" : "decode");
    tf.forward(st, ids[pos]!, pos, p.hooks);
    log.push(st.ffn.map((f) => (f ? Array.from(f.kept).join(",") : "dense")).join("|"));
  }
}

const CONFIGS: Partial<DartSettings>[] = [
  { method: "dart", sparsity: 0.5 },
  { method: "dart-paper", sparsity: 0.5, budget: "auto", ranking: "combined" },
  { method: "dart-paper", sparsity: 0.3, ranking: "product", aggregation: "ema" },
  { method: "griffin", sparsity: 0.5 },
];

/** Runs every config on `docs` split at several points; returns runs compared, splits inside a trace, runs whose masks differed. */
function splitRuns(docs: ReturnType<typeof buildSet>, roundF16: boolean) {
  let compared = 0, whileTracing = 0, differing = 0;
  for (const cfg of CONFIGS) {
    const s = { ...DEFAULT_DART_SETTINGS, ...cfg };
    for (const doc of docs) {
      const ids = doc.tokens;
      const end = ids.length;
      const refState = tf.newState();
      const ref = createPruner(tf, refState, s);
      ref.beginTurn(0, doc.promptLen);
      const refLog: string[] = [];
      run(ref, refState, ids, doc.promptLen, 0, end, refLog);
      for (const split of [doc.promptLen >> 1, doc.promptLen + 3, doc.promptLen + 29, end - 11]) {
        const st = tf.newState();
        const a = createPruner(tf, st, s) as MaskingPruner;
        a.beginTurn(0, doc.promptLen);
        const log: string[] = [];
        run(a, st, ids, doc.promptLen, 0, split, log);
        if (a.mode === "tracing") {
          whileTracing++;
          if (roundF16) for (const arr of [...a.tracer.energy, ...a.tracer.firstMoment]) arr.forEach((v, i) => (arr[i] = toF16Precision(v)));
        }
        const b = createPruner(tf, st, s, a.serialize()); // same KV cache, pruner from the blob
        run(b, st, ids, doc.promptLen, split, end, log);
        compared++;
        const same = log.every((k, i) => k === refLog[i]);
        if (!same) differing++;
        if (!roundF16) {
          expect(log, `${s.method} ${doc.name} split at ${split}`).toEqual(refLog);
          expect(b.stats()).toEqual(ref.stats());
        }
      }
    }
  }
  return { compared, whileTracing, differing };
}

describe("stored tracer statistics leave the masks identical on the evaluation sets", () => {
  const sets = ["in-domain", "story-speech", "story-story"];
  const docsOf = (set: string) => buildSet(set, tok, MODEL_DIR, { docs: 3, promptLen: 32, partLen: 48 });
  for (const set of sets) {
    it(set, () => {
      const docs = docsOf(set);
      const r = splitRuns(docs, false);
      expect(r.compared).toBe(CONFIGS.length * docs.length * 4);
      // The accumulators are exercised: many splits fall inside a trace.
      expect(r.whileTracing).toBeGreaterThanOrEqual(CONFIGS.length * docs.length);
      expect(r.differing).toBe(0);
    });
  }

  it("rounded to f16 precision they would not: some masks change", () => {
    const r = splitRuns(docsOf("story-story"), true);
    expect(r.whileTracing).toBeGreaterThan(0);
    expect(r.differing).toBeGreaterThan(0);
  });
});
