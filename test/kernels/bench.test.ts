// `dart bench --json` on the real stories260K model: the fields exist and hang together.
import { describe, expect, it } from "vitest";
import { weightBytesPerToken } from "../../cli/bench-core.ts";
import { dart } from "../helpers/run-cli.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";

describe("dart bench", () => {
  it("counts weight bytes per token: dense, and compacted layers by their kept neurons", () => {
    const c = stories().model.config;
    const dense = weightBytesPerToken(c, []);
    // stories260K: 64-wide, 5 layers, 8 heads of which 4 kv heads, FFN 172, vocab 512 (tied classifier read once).
    const attn = 2 * 64 * 64 + 2 * 32 * 64 + 2 * 64;
    expect(dense.bytes).toBe(4 * (64 + 512 * 64 + 64 + 5 * (attn + 3 * 172 * 64)));
    const half = weightBytesPerToken(c, Array.from({ length: 5 }, (_, l) => (l < 2 ? { kept: new Int32Array(86) } : null)));
    expect(dense.bytes - half.bytes).toBe(4 * 2 * 86 * 3 * 64);
    expect(half.neurons).toBe(5 * 172 - 2 * 86);
  });

  it("prints one JSON object per configuration with sane fields", () => {
    const r = dart(["bench", "--model", dataPath("stories260K.bin"), "--method", "dense,mask", "--sparsity", "0.7",
      "--tokens", "8", "--prompt-tokens", "4", "--repeats", "2", "--backend", "ts,wasm", "--json"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((x) => `${x.backend}/${x.method}/${x.sparsity}`)).toEqual(["ts/dense/0", "ts/mask/0.7", "wasm/dense/0", "wasm/mask/0.7"]);
    for (const x of rows) {
      for (const k of ["tokensPerSecond", "prefillTokensPerSecond", "effectiveGBps", "memcpyGBps", "floorTokensPerSecond"]) {
        expect(x[k], k).toBeGreaterThan(0);
      }
      expect(x.effectiveGBps).toBeCloseTo((x.weightBytesPerToken * x.tokensPerSecond) / 1e9, 6);
      expect(x.decodeTokensPerSecondRuns).toHaveLength(2);
    }
    const [dense, mask] = rows;
    expect(dense.effectiveSparsity).toBe(0);
    expect(dense.weightBytesPerToken).toBe(dense.denseWeightBytesPerToken);
    expect(mask.effectiveSparsity).toBeCloseTo(0.7, 2);
    expect(mask.weightBytesPerToken).toBeLessThan(dense.weightBytesPerToken);
    expect(mask.idealSpeedup).toBeCloseTo(dense.weightBytesPerToken / mask.weightBytesPerToken, 9);
    expect(dense.denseDecodeTokens).toBe(16);
    expect(mask.denseDecodeTokens).toBe(0);
  });

  it("--threads picks the one- and two-thread WASM backends and reports the fields the issue names", () => {
    const r = dart(["bench", "--model", dataPath("stories260K.bin"), "--method", "dart", "--sparsity", "0.5",
      "--tokens", "6", "--prompt-tokens", "4", "--repeats", "1", "--threads", "1,2", "--weights", "f32", "--json"]);
    expect(r.stderr).toBe("");
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.backend, x.threads, x.weights])).toEqual([["wasm", 1, "f32"], ["wasm-mt", 2, "f32"]]);
    for (const x of rows) {
      for (const k of ["tokensPerSecond", "forwardTokensPerSecond", "prefillTokensPerSecond", "weightBytesPerToken"]) expect(x[k], k).toBeGreaterThan(0);
      expect(x.maskSeconds).toBeGreaterThanOrEqual(0);
      expect(Number.isInteger(x.remasks)).toBe(true);
      expect(x.tokensPerSecond).toBeLessThanOrEqual(x.forwardTokensPerSecond); // re-masks are counted in tokensPerSecond
    }
    expect(dart(["bench", "--model", dataPath("stories260K.bin"), "--threads", "3"]).code).toBe(2);
    expect(dart(["bench", "--model", dataPath("stories260K.bin"), "--weights", "q4"]).code).toBe(2);
  });

  it("--weights f32,q8_0 runs both formats side by side: Q8_0 reads 1.125 bytes a matrix weight", () => {
    const r = dart(["bench", "--model", dataPath("stories260K.bin"), "--method", "dense,dart", "--sparsity", "0.7",
      "--tokens", "6", "--prompt-tokens", "4", "--repeats", "1", "--threads", "1", "--weights", "f32,q8_0", "--json"]);
    expect(r.stderr).toBe("");
    const rows = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(rows.map((x) => [x.weights, x.method])).toEqual([["f32", "dense"], ["f32", "dart"], ["q8_0", "dense"], ["q8_0", "dart"]]);
    const c = stories().model.config;
    const attn = 2 * 64 * 64 + 2 * 32 * 64;
    // Vectors (embedding row, norms) stay fp32; every matrix weight is an int8 plus 4/32 of a scale.
    expect(rows[2].weightBytesPerToken).toBeCloseTo(4 * (64 + 64 + 5 * 2 * 64) + 1.125 * (512 * 64 + 5 * (attn + 3 * 172 * 64)), 6);
    expect(weightBytesPerToken(c, [], "q8_0").bytes).toBe(rows[2].weightBytesPerToken);
    for (const x of rows) for (const k of ["tokensPerSecond", "forwardTokensPerSecond", "prefillTokensPerSecond"]) expect(x[k], k).toBeGreaterThan(0);
    expect(rows[3].weightBytesPerToken).toBeLessThan(rows[2].weightBytesPerToken);
  });

  it("rejects a sparsity out of range", () => {
    const r = dart(["bench", "--model", dataPath("stories260K.bin"), "--method", "mask", "--sparsity", "0.95"]);
    expect(r.code).toBe(2);
  });
});
