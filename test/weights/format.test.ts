import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { f16ToF32, f32ToF16 } from "../../shared/model/dtypes.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { GGML_TYPE } from "../../shared/model/dtypes.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { loadModel } from "../../shared/model/load.ts";
import { buildShardSet } from "../../shared/weights/build.ts";
import { FolderSource } from "../../workers/weights/folder-source.ts";
import { computeForwardProxy, downColumnNorms } from "../../shared/dart/forward-proxy.ts";
import { parseManifest, ManifestError } from "../../shared/weights/manifest.ts";
import { modelFromStore } from "../../shared/weights/model-from-store.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { stories } from "../helpers/model-dir.ts";
import { tempShardSet, type TempShardSet } from "./shard-set.ts";

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("shard format on the real stories260K", () => {
  let set: TempShardSet;
  beforeAll(async () => {
    set = await tempShardSet({ neuronsPerShard: 16 });
  });
  afterAll(() => set.remove());

  it("lists every object with its size and a sha256 that node:crypto agrees with", () => {
    const m = parseManifest(readFileSync(join(set.dir, "manifest.json"), "utf8"));
    const refs = [m.base, ...m.layers.flat()];
    expect(refs.length).toBe(1 + 5 * Math.ceil(172 / 16));
    for (const r of refs) {
      const bytes = readFileSync(join(set.dir, r.key));
      expect(bytes.byteLength).toBe(r.bytes);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(r.sha256);
    }
    expect(m.dtype).toBe("f32");
    expect(m.ffnBytes).toBe(5 * 3 * 172 * 64 * 4);
  });

  it("bundles gate row, up row and down column of consecutive neurons, last shard partial", () => {
    const { model } = stories();
    const shards = set.manifest.layers[3]!;
    const last = shards.at(-1)!;
    expect(last.first).toBe(160);
    expect(last.count).toBe(12);
    const f = new Float32Array(readFileSync(join(set.dir, last.key)).buffer.slice(0));
    const lw = model.weights.layers[3]!;
    const j = 165, i = j - 160, dim = 64;
    expect(bits(f.subarray(i * dim, (i + 1) * dim))).toEqual(bits(lw.wGate.subarray(j * dim, (j + 1) * dim)));
    expect(bits(f.subarray(12 * dim + i * dim, 12 * dim + (i + 1) * dim))).toEqual(bits(lw.wUp.subarray(j * dim, (j + 1) * dim)));
    for (let d = 0; d < dim; d++) expect(f[24 * dim + i * dim + d]).toBe(lw.wDown[d * 172 + j]);
  });

  it("rebuilds the whole model bit-exactly, and it generates the same logits", async () => {
    const { model, tf, tok } = stories();
    const store = await WeightStore.open(set.folder);
    const back = await modelFromStore(store);
    expect(bits(back.weights.tokenEmbedding)).toEqual(bits(model.weights.tokenEmbedding));
    expect(back.weights.classifier).toBe(back.weights.tokenEmbedding);
    for (let l = 0; l < 5; l++) {
      for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "wGate", "wUp", "wDown"] as const) {
        expect(bits(back.weights.layers[l]![k]), `layer ${l} ${k}`).toEqual(bits(model.weights.layers[l]![k]));
      }
    }
    const tf2 = new Transformer(back);
    const s1 = tf.newState(), s2 = tf2.newState();
    tok.encode("Once upon a time", { bos: true }).forEach((t, pos) => {
      expect(bits(tf2.forward(s2, t, pos))).toEqual(bits(tf.forward(s1, t, pos)));
    });
  });

  it("keeps an F16 GGUF model in f16 (vectors in f32) and rebuilds it bit-exactly", async () => {
    const { model: bin } = stories();
    const f16 = loadModel(writeLlamaGguf(bin, { dtype: GGML_TYPE.F16 }));
    const dir = mkdtempSync(join(tmpdir(), "dart-shards-f16-"));
    try {
      const folder = new FolderSource(dir);
      const m = await buildShardSet(f16, { neuronsPerShard: 8 }, folder.put);
      expect(m.dtype).toBe("f16");
      expect(m.ffnBytes).toBe(5 * 3 * 172 * 64 * 2);
      expect(m.base.tensors.find((t) => t.name === "blk.0.attn_norm")!.dtype).toBe("f32");
      expect(m.base.tensors.find((t) => t.name === "blk.0.attn_q")!.dtype).toBe("f16");
      const back = await modelFromStore(await WeightStore.open(folder));
      expect(bits(back.weights.tokenEmbedding)).toEqual(bits(f16.weights.tokenEmbedding));
      expect(bits(back.weights.finalNorm)).toEqual(bits(f16.weights.finalNorm));
      for (let l = 0; l < 5; l++) {
        for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "wGate", "wUp", "wDown"] as const) {
          expect(bits(back.weights.layers[l]![k]), `layer ${l} ${k}`).toEqual(bits(f16.weights.layers[l]![k]));
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("stores f16 when asked, as the f16 rounding of each weight", async () => {
    const half = await tempShardSet({ neuronsPerShard: 64, dtype: "f16" });
    try {
      expect(half.manifest.ffnBytes).toBe(5 * 3 * 172 * 64 * 2);
      const back = await modelFromStore(await WeightStore.open(half.folder));
      const want = stories().model.weights.layers[1]!.wDown;
      const got = back.weights.layers[1]!.wDown;
      for (let i = 0; i < want.length; i += 97) expect(got[i]).toBe(f16ToF32(f32ToF16(want[i]!)));
    } finally {
      half.remove();
    }
  });

  it("carries DART's forward proxy and W_down column norms in the base when given", async () => {
    const { model } = stories();
    const proxy = computeForwardProxy(model.config, model.weights);
    const norms = downColumnNorms(model.config, model.weights);
    const withPriors = await tempShardSet({ neuronsPerShard: 64, forwardProxy: proxy, downNorms: norms });
    try {
      const store = await WeightStore.open(withPriors.folder);
      const got = store.forwardProxy()!;
      for (let l = 0; l < 5; l++) {
        expect(bits(got.gMax[l]!)).toEqual(bits(proxy.gMax[l]!));
        expect(bits(got.gMean[l]!)).toEqual(bits(proxy.gMean[l]!));
        expect(bits(store.downNorms()![l]!)).toEqual(bits(norms[l]!));
      }
      expect((await WeightStore.open(set.folder)).forwardProxy()).toBeNull();
      const m = JSON.parse(readFileSync(join(withPriors.dir, "manifest.json"), "utf8"));
      m.base.tensors = m.base.tensors.filter((t: { name: string }) => t.name !== "blk.2.ffn_gmean");
      expect(() => parseManifest(JSON.stringify(m))).toThrow(/blk.2.ffn_gmean/);
    } finally {
      withPriors.remove();
    }
  });

  it("rejects manifests that break the tiling or are not manifests", () => {
    const m = JSON.parse(readFileSync(join(set.dir, "manifest.json"), "utf8"));
    m.layers[2][1].first = 17;
    expect(() => parseManifest(JSON.stringify(m))).toThrow(/tiling/);
    expect(() => parseManifest("{}")).toThrow(ManifestError);
    expect(() => parseManifest("not json")).toThrow(/not JSON/);
  });
});

describe("a node running from the store alone", () => {
  it("dart shard output opens as model + tokenizer + forward proxy and generates what the model file generates", async () => {
    const { execFileSync } = await import("node:child_process");
    const { generate } = await import("../../shared/engine/generate.ts");
    const { openModelFromStore } = await import("../../shared/weights/open-model.ts");
    const { forwardProxy } = await import("../../shared/dart/priors.ts");
    const { dataPath } = await import("../helpers/model-dir.ts");
    const dir = mkdtempSync(join(tmpdir(), "dart-shards-cli-"));
    try {
      execFileSync(process.execPath, [join(import.meta.dirname, "../../cli/dart.ts"), "shard", "--model", dataPath("stories260K.bin"), "--out", dir]);
      const node = await openModelFromStore(new FolderSource(dir));
      const { tf, tok, model } = stories();
      const opts = { maxTokens: 60, temperature: 0 };
      expect(generate(node.transformer, node.tokenizer!, "Once upon a time", opts).text).toBe(generate(tf, tok, "Once upon a time", opts).text);
      const want = computeForwardProxy(model.config, model.weights);
      expect(forwardProxy(node.transformer).gMean[4]).toBe(node.store.tensor("blk.4.ffn_gmean")); // installed from the base, not recomputed
      expect(bits(node.store.tensor("blk.4.ffn_gmean"))).toEqual(bits(want.gMean[4]!));
      expect(node.store.manifest.neuronsPerShard).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
