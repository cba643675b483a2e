// Sessions stored before the version-2 codec hold version-1 blobs. These fixtures were
// written by the v1 build (test/fixtures/dart-state-v1/README.md) with facts read from the
// live pruner beside them; the current reader must restore exactly that pruner, and its
// re-encoding as version 2 must behave the same.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { MaskingPruner } from "../../shared/dart/masking-pruner.ts";
import { decodeState } from "../../shared/dart/state-codec.ts";
import { argmax } from "../../shared/engine/sampler.ts";
import { stories } from "../helpers/model-dir.ts";

const { tf } = stories("bin");
const dir = resolve(import.meta.dirname, "../fixtures/dart-state-v1");
const sum = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
};

/** A minimal reader of the v1 layout written from its description, independent of state-codec.ts. */
function parseV1(b: Uint8Array) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const len = dv.getUint32(8, true);
  const { dir } = JSON.parse(new TextDecoder().decode(b.subarray(12, 12 + len))) as { dir: Record<string, { kind: string; offset: number; length: number }> };
  const start = Math.ceil((12 + len) / 8) * 8;
  const kept = dir.kept!;
  return { version: dv.getUint32(4, true), kept: Array.from(new Int32Array(b.slice(start + kept.offset, start + kept.offset + 4 * kept.length).buffer)) };
}

for (const name of ["dart-masked", "dart-paper-tracing"]) {
  describe(`v1 fixture ${name}`, () => {
    const blob = new Uint8Array(readFileSync(`${dir}/${name}.bin`));
    const facts = JSON.parse(readFileSync(`${dir}/${name}.json`, "utf8"));

    it("is the blob the v1 build wrote", () => {
      expect(createHash("sha256").update(blob).digest("hex")).toBe(facts.sha256);
      const v1 = parseV1(blob);
      expect(v1.version).toBe(1);
      expect(v1.kept).toEqual((facts.kept as (number[] | null)[]).flatMap((k) => k ?? []));
    });

    it("restores the pruner that wrote it", () => {
      const p = MaskingPruner.restore(tf, tf.newState(), blob);
      expect(p.settings).toEqual(facts.settings);
      expect(p.mode).toBe(facts.mode);
      expect(p.traceLeft).toBe(facts.traceLeft);
      expect(p.pendingRemask).toBe(facts.pendingRemask);
      expect(p.counters).toEqual(facts.counters);
      expect(p.stats()).toEqual(facts.stats);
      // The writer was between a traced forward and its count (tracingNow); the blob counts that token.
      expect(p.tracer.tokens).toBe(facts.tracerTokens + (facts.mode === "tracing" ? 1 : 0));
      expect(p.kept.map((k) => (k ? Array.from(k) : null))).toEqual(facts.kept);
      expect(p.tracer.energy.map(sum)).toEqual(facts.energySums);
      expect(p.tracer.firstMoment.map(sum)).toEqual(facts.firstMomentSums);
      // v1 summed per-token products (1 - cos) * ratio; restored, the layer importance the auto budget reads is unchanged.
      const n = p.tracer.tokens;
      p.tracer.meanImportance().forEach((v, l) => expect(v).toBeCloseTo(n ? facts.importance[l] / n : 0, 12));
      const biases = p.masks().map((_, l) => (p as unknown as { compact: ({ bias: Float32Array | null } | null)[] }).compact[l]?.bias ?? null);
      expect(biases.map((b) => (b ? sum(b) : null))).toEqual(facts.biasSums);
      const d = p.drift!;
      expect({
        threshold: d.threshold, pressure: d.pressure, tracedCount: d.tracedCount, currentCount: d.currentCount,
        calibWindows: d.calibWindows.length, baselineSum: d.baseline ? sum(d.baseline) : null, totalSum: sum(d.total),
      }).toEqual(facts.drift);
    });

    it("re-encodes as version 2 that restores to the same behaviour", () => {
      const fromV1 = MaskingPruner.restore(tf, tf.newState(), blob);
      const v2 = fromV1.serialize();
      expect(decodeState(v2).version).toBe(2);
      if (facts.mode === "masked") expect(v2.byteLength).toBeLessThan(blob.byteLength / 2);
      const a = { st: tf.newState() };
      const b = { st: tf.newState() };
      const pa = MaskingPruner.restore(tf, a.st, blob);
      const pb = MaskingPruner.restore(tf, b.st, v2);
      expect(pb.serialize()).toEqual(v2);
      // Decode the same 24 tokens through both: identical kept sets, logits and pruner stats.
      let token = 1;
      for (let pos = 0; pos < 24; pos++) {
        pa.beforeForward(pos, token, "decode");
        pb.beforeForward(pos, token, "decode");
        const la = tf.forward(a.st, token, pos, pa.hooks);
        const lb = tf.forward(b.st, token, pos, pb.hooks);
        expect(Array.from(lb)).toEqual(Array.from(la));
        expect(b.st.ffn.map((f) => f?.kept.join(",") ?? "dense")).toEqual(a.st.ffn.map((f) => f?.kept.join(",") ?? "dense"));
        token = argmax(la);
      }
      expect(pb.stats()).toEqual(pa.stats());
      expect(pb.events()).toEqual(pa.events());
    });
  });
}
