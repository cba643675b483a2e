import { describe, expect, it } from "vitest";
import { computeForwardProxy, downColumnNorms } from "../../shared/dart/forward-proxy.ts";
import { autoRatios, depthProtection, keptCount, DEFAULT_AUTO_BUDGET } from "../../shared/dart/budget.ts";
import { DriftDetector, PAPER_DRIFT, cosine } from "../../shared/dart/drift.ts";
import { scoreLayer, topK } from "../../shared/dart/ranking.ts";
import { Tracer } from "../../shared/dart/tracer.ts";
import { stories } from "../helpers/model-dir.ts";

describe("forward proxy", () => {
  it("blockwise g_max / g_mean equal the full W_down^T E^T computed directly", () => {
    const { model } = stories("bin");
    const { dim, hiddenDim: H, vocabSize: V } = model.config;
    const proxy = computeForwardProxy(model.config, model.weights, 37); // odd block size on purpose
    for (const l of [0, 4]) {
      const wd = model.weights.layers[l]!.wDown;
      for (const i of [0, 17, 171]) {
        let mx = 0, sum = 0;
        for (let v = 0; v < V; v++) {
          let p = 0;
          for (let d = 0; d < dim; d++) p += wd[d * H + i]! * model.weights.tokenEmbedding[v * dim + d]!;
          mx = Math.max(mx, Math.abs(p));
          sum += Math.abs(p);
        }
        expect(proxy.gMax[l]![i]!).toBeCloseTo(mx, 5);
        expect(proxy.gMean[l]![i]!).toBeCloseTo(sum / V, 5);
      }
    }
  });

  it("down column norms are the L2 norms of W_down's columns", () => {
    const { model } = stories("bin");
    const n = downColumnNorms(model.config, model.weights);
    const wd = model.weights.layers[2]!.wDown;
    let s = 0;
    for (let d = 0; d < 64; d++) s += wd[d * 172 + 9]! ** 2;
    expect(n[2]![9]!).toBeCloseTo(Math.sqrt(s), 5);
  });
});

describe("rankings and top-k", () => {
  const energy = Float32Array.of(4, 1, 9, 0);
  const gMax = Float32Array.of(1, 10, 1, 5);
  const gMean = Float32Array.of(2, 1, 0.5, 1);
  const out = new Float32Array(4);
  it("score each ranking from sqrt(sum a^2) and the proxy", () => {
    expect(Array.from(scoreLayer("magnitude", energy, gMax, gMean, out))).toEqual([2, 1, 3, 0]);
    expect(Array.from(scoreLayer("max", energy, gMax, gMean, out))).toEqual([2, 10, 3, 0]);
    expect(Array.from(scoreLayer("mean", energy, gMax, gMean, out))).toEqual([4, 1, 1.5, 0]);
    expect(Array.from(scoreLayer("combined", energy, gMax, gMean, out))).toEqual([6, 11, 4.5, 0]);
    expect(Array.from(scoreLayer("product", energy, gMax, gMean, out))).toEqual([8, 10, 4.5, 0]);
  });
  it("top-k returns sorted indices of the largest scores", () => {
    expect(Array.from(topK([6, 11, 4.5, 0], 2))).toEqual([0, 1]);
    expect(Array.from(topK([1, 1, 1], 2))).toEqual([0, 1]);
  });
});

describe("auto budget", () => {
  it("depth protection follows the brief's ramps", () => {
    expect(depthProtection(0, 11)).toBeCloseTo(0.25);
    expect(depthProtection(5, 11)).toBe(1);
    expect(depthProtection(10, 11)).toBeCloseTo(0.35);
    expect(depthProtection(1, 11)).toBeCloseTo(0.25 + (0.75 * 0.1) / 0.3);
  });
  it("spends exactly sparsity x L, within the clip bounds", () => {
    for (const rho of [0.2, 0.5, 0.7]) {
      const r = autoRatios([0.9, 0.1, 0.3, 0.5, 0.2, 0.8, 0.05, 0.4], rho);
      expect(r.reduce((a, b) => a + b, 0)).toBeCloseTo(rho * 8, 6);
      for (const x of r) {
        expect(x).toBeGreaterThanOrEqual(DEFAULT_AUTO_BUDGET.minRatio - 1e-9);
        expect(x).toBeLessThanOrEqual(DEFAULT_AUTO_BUDGET.maxRatio + 1e-9);
      }
    }
  });
  it("the issue's profile at 0.7: mean ratio 0.7, the most important layer at the floor, the frozen layers' leftover spread", () => {
    const S = [2.17, 1.66, 0.5, 2.29, 0.56];
    const r = autoRatios(S, 0.7);
    expect(r.reduce((a, b) => a + b, 0) / 5).toBeCloseTo(0.7, 6);
    // Layer 3 has the highest importance, so no pressure: it stays at the 0.1 floor.
    expect(r[3]!).toBeCloseTo(0.1, 3);
    // Layers 1, 2, 4 have high pressure and saturate; layer 0 (depth-protected, not saturated) takes the rest.
    for (const l of [1, 2, 4]) expect(r[l]!).toBeCloseTo(0.9, 6);
    expect(r[0]!).toBeGreaterThan(0.6);
  });
  it("hits the target mean on random 5- and 12-layer profiles (clip, redistribute by pressure, re-clip)", () => {
    let seed = 12345;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    for (let i = 0; i < 500; i++) {
      const L = i % 2 ? 5 : 12;
      const S = Array.from({ length: L }, () => rnd() * (i % 3 ? 3 : 0.05));
      for (const rho of [0.1, 0.25, 0.5, 0.7, 0.85, 0.9]) {
        const r = autoRatios(S, rho);
        expect(Math.abs(r.reduce((a, b) => a + b, 0) / L - rho)).toBeLessThan(1e-6);
        for (const x of r) expect(x).toBeGreaterThanOrEqual(0.1 - 1e-9), expect(x).toBeLessThanOrEqual(0.9 + 1e-9);
      }
    }
  });
  it("below sparsity 0.1 still prunes 10% of every layer (the reference's floor); 0 prunes nothing", () => {
    expect(autoRatios([0.3, 0.1, 0.9, 0.2, 0.5], 0.05)).toEqual([0.1, 0.1, 0.1, 0.1, 0.1]);
    expect(autoRatios([0.3, 0.1, 0.9, 0.2, 0.5], 0)).toEqual([0, 0, 0, 0, 0]);
  });
  it("prunes less important layers more (middle layers, equal depth protection)", () => {
    const r = autoRatios([0.5, 0.9, 0.1, 0.5, 0.5], 0.4);
    expect(r[2]!).toBeGreaterThan(r[1]!);
  });
  it("keeps at least one neuron", () => {
    expect(keptCount(172, 0.9)).toBe(17);
    expect(keptCount(2, 0.9)).toBe(1);
  });
});

describe("drift detector (paper)", () => {
  const unit = (i: number, dim = 4, noise = 0) => Float32Array.from({ length: dim }, (_, k) => (k === i ? 1 : noise));
  it("calibrates baseline and threshold = mu - max(0.1 sigma, 0.1) on windows of 5", () => {
    const d = new DriftDetector(4, PAPER_DRIFT);
    // Two windows: five tokens along e0, then five along e0+e1.
    for (let i = 0; i < 5; i++) d.observeTraced(unit(0));
    for (let i = 0; i < 5; i++) d.observeTraced(Float32Array.of(1, 1, 0, 0));
    d.calibrate();
    const mean = [10, 5, 0, 0];
    const c1 = cosine([5, 0, 0, 0], mean), c2 = cosine([5, 5, 0, 0], mean);
    const mu = (c1 + c2) / 2;
    const sigma = Math.sqrt(((c1 - mu) ** 2 + (c2 - mu) ** 2) / 2);
    expect(d.threshold).toBeCloseTo(mu - Math.max(0.1 * sigma, 0.1), 6);
    expect(Array.from(d.baseline!)).toEqual(mean);
  });
  it("fires on an orthogonal window and decays pressure on similar ones", () => {
    const d = new DriftDetector(4, PAPER_DRIFT);
    for (let i = 0; i < 10; i++) d.observeTraced(unit(0, 4, 0.01 * (i % 3)));
    d.calibrate();
    let check = null;
    for (let i = 0; i < 5; i++) check = d.observe(unit(0));
    expect(check).toMatchObject({ fired: false, pressure: 0 });
    for (let i = 0; i < 4; i++) expect(d.observe(unit(2))).toBeNull();
    check = d.observe(unit(2));
    expect(check!.fired).toBe(true);
    expect(check!.cosine).toBeLessThan(check!.threshold);
  });
});

describe("tracer (reference statistics)", () => {
  const opts = { aggregation: "l2" as const, emaDecay: 0.5, normalizePerToken: false, importance: true, moments: false };
  it("layer importance multiplies two means: (1 - mean cos) x mean(||m - h|| / ||h||)", () => {
    const t = new Tracer(1, 2, 2, opts);
    const tokens = [
      { h: Float32Array.of(1, 0), m: Float32Array.of(1, 0) }, // cos 1, ratio 0
      { h: Float32Array.of(1, 0), m: Float32Array.of(0, 3) }, // cos 0, ratio sqrt(10)
    ];
    for (const { h, m } of tokens) {
      t.ffnInput(0, h);
      t.ffnOutput(0, m);
      t.endToken();
    }
    const expected = (1 - (1 + 0) / 2) * ((0 + Math.sqrt(10)) / 2);
    expect(t.meanImportance()[0]!).toBeCloseTo(expected, 12);
    // The mean of per-token products would be (0 * 0 + 1 * sqrt(10)) / 2, twice as much.
    expect(t.meanImportance()[0]!).not.toBeCloseTo(Math.sqrt(10) / 2, 3);
  });
  it("EMA of |a| starts from the decay-weighted mean of the prompt, then takes EMA steps", () => {
    const d = 0.6;
    const t = new Tracer(1, 2, 2, { ...opts, aggregation: "ema", emaDecay: d, importance: false });
    const prompt = [Float32Array.of(-2, 1), Float32Array.of(4, 0), Float32Array.of(1, -3)];
    for (const a of prompt) {
      t.beginToken("prompt");
      t.activation(0, a);
      t.endToken();
    }
    const w = [d * d, d, 1];
    const wsum = w.reduce((x, y) => x + y);
    const opening = [0, 1].map((j) => prompt.reduce((acc, a, i) => acc + w[i]! * Math.abs(a[j]!), 0) / wsum);
    expect(t.energy[0]![0]!).toBeCloseTo(opening[0]!, 5);
    expect(t.energy[0]![1]!).toBeCloseTo(opening[1]!, 5);
    t.beginToken("decode");
    t.activation(0, Float32Array.of(-5, 2));
    expect(t.energy[0]![0]!).toBeCloseTo(d * opening[0]! + (1 - d) * 5, 5);
    expect(t.energy[0]![1]!).toBeCloseTo(d * opening[1]! + (1 - d) * 2, 5);
    // Rankings read sqrt(energy), so the EMA mode hands them its square: the order is EMA |a|'s.
    expect(t.rankingEnergy(0)[0]!).toBeCloseTo(t.energy[0]![0]! ** 2, 5);
  });
  it("a trace that opens on a generated token (after a drift) starts its EMA from that token", () => {
    const t = new Tracer(1, 1, 1, { ...opts, aggregation: "ema", emaDecay: 0.9, importance: false });
    t.beginToken("decode");
    t.activation(0, Float32Array.of(-3));
    t.endToken();
    expect(t.energy[0]![0]!).toBeCloseTo(3, 6);
    t.beginToken("decode");
    t.activation(0, Float32Array.of(1));
    expect(t.energy[0]![0]!).toBeCloseTo(0.9 * 3 + 0.1, 6);
  });
});
