// Q8_0 in the weight store (dtype "q8_0", manifest version 2) on the real stories260K (dim 64):
// the bytes against the definition, a GGUF q8_0 file's tensors carried bit for bit, an fp32
// model quantized once with the --weights q8_0 quantizer (the same logits as from the file), a
// sparse engine on q8_0 shards against the in-process Q8_0 engine with the same masks, what a
// mask change moves against f32, and the manifest versions a reader accepts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compactOf } from "../../shared/engine/compact-ffn.ts";
import { ggufQ8Model } from "../../shared/engine/q8-model.ts";
import { Transformer } from "../../shared/engine/transformer.ts";
import { f16ToF32, GGML_TYPE } from "../../shared/model/dtypes.ts";
import { parseGguf } from "../../shared/model/gguf.ts";
import { writeLlamaGguf } from "../../shared/model/gguf-writer.ts";
import { isQ8, type Q8Matrix } from "../../shared/model/q8.ts";
import { ManifestError, parseManifest } from "../../shared/weights/manifest.ts";
import { openModelFromStore } from "../../shared/weights/open-model.ts";
import { ResidentFfn } from "../../shared/weights/resident-ffn.ts";
import { shardsForKept } from "../../shared/weights/ffn-loader.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { shardModelToFolder } from "../../cli/weights-seed.ts";
import { FolderSource } from "../../workers/weights/folder-source.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";
import { bits, randomKept, tempShardSet, type TempShardSet } from "./shard-set.ts";

const DIM = 64, HIDDEN = 172, LAYERS = 5;
// Per neuron: gate, up, down = 3 x 64 int8s and 3 x 64 / 32 = 6 f16 scales (q8-codec.ts); f32: 3 x 64 x 4.
const Q8_NEURON = 3 * DIM + (3 * DIM / 32) * 2; // 204
const F32_NEURON = 3 * DIM * 4; // 768

const argmax = (a: Float32Array) => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);

describe("q8_0 shard sets of the fp32 stories260K", () => {
  let q8: TempShardSet;
  let f32: TempShardSet;
  beforeAll(async () => {
    q8 = await tempShardSet({ neuronsPerShard: 1, dtype: "q8_0" });
    f32 = await tempShardSet({ neuronsPerShard: 1 });
  });
  afterAll(() => {
    q8.remove();
    f32.remove();
  });

  it("writes manifest version 2 with dtype q8_0, 204-byte neuron shards and Q8_0 base matrices (vectors and embedding f32)", () => {
    const m = parseManifest(readFileSync(join(q8.dir, "manifest.json"), "utf8"));
    expect(m.version).toBe(2);
    expect(m.dtype).toBe("q8_0");
    expect(m.layers.flat().every((s) => s.bytes === Q8_NEURON)).toBe(true);
    expect(m.ffnBytes).toBe(LAYERS * HIDDEN * Q8_NEURON);
    expect(f32.manifest.ffnBytes).toBe(LAYERS * HIDDEN * F32_NEURON);
    const t = (name: string) => m.base.tensors.find((x) => x.name === name)!;
    expect(t("blk.2.attn_q")).toMatchObject({ dtype: "q8_0", bytes: DIM * DIM + (DIM * DIM / 32) * 2 });
    expect(t("blk.2.attn_norm").dtype).toBe("f32");
    expect(t("token_embd").dtype).toBe("f32");
    expect(m.base.bytes).toBeLessThan(f32.manifest.base.bytes);
  });

  it("holds each neuron's gate row, up row and down column as the quantizer's int8s and f16 scales", () => {
    const { model } = stories();
    const tf = new Transformer(model, { backend: "ts", weights: "q8_0" }); // what --weights q8_0 holds
    const j = 101, layer = 3;
    const bytes = new Uint8Array(readFileSync(join(q8.dir, q8.manifest.layers[layer]![j]!.key)));
    const dv = new DataView(bytes.buffer, bytes.byteOffset);
    const b = tf.ffn[layer]!;
    for (const part of [0, 1, 2] as const) {
      const want = b.rowQ8(j, part);
      expect(Array.from(new Int8Array(bytes.buffer, bytes.byteOffset + part * DIM, DIM))).toEqual(Array.from(want.q));
      for (let k = 0; k < 2; k++) expect(f16ToF32(dv.getUint16(3 * DIM + (part * 2 + k) * 2, true))).toBe(want.d[k]);
    }
    // And the down column really is column j of W_down, within half a quantization step.
    const down = b.rowValues(j, 2);
    for (let d = 0; d < DIM; d++) {
      expect(Math.abs(down[d]! - model.weights.layers[layer]!.wDown[d * HIDDEN + j]!)).toBeLessThanOrEqual(b.rowQ8(j, 2).d[d >> 5]! / 2 + 1e-6);
    }
  });

  it("loads as the same Q8_0 engine --weights q8_0 builds from the model file: logits equal bit for bit", async () => {
    const { model, tok } = stories();
    const fromFile = new Transformer(model, { weights: "q8_0" });
    const node = await openModelFromStore(q8.folder);
    expect(node.transformer.ffn[0]!.format).toBe("q8_0");
    expect(isQ8(node.transformer.weights.layers[1]!.wq)).toBe(true);
    const s1 = fromFile.newState(), s2 = node.transformer.newState();
    tok.encode("Once upon a time, there was a little", { bos: true }).forEach((t, pos) => {
      expect(bits(node.transformer.forward(s2, t, pos)), `position ${pos}`).toEqual(bits(fromFile.forward(s1, t, pos)));
    });
    // An f32 set served as q8_0 quantizes at load, to the same engine again.
    const quantizedAtLoad = await openModelFromStore(f32.folder, { weights: "q8_0" });
    const s3 = quantizedAtLoad.transformer.newState(), s4 = fromFile.newState();
    tok.encode("Lily saw a dog", { bos: true }).forEach((t, pos) => {
      expect(bits(quantizedAtLoad.transformer.forward(s3, t, pos))).toEqual(bits(fromFile.forward(s4, t, pos)));
    });
  });

  it("refuses to serve a q8_0 set as fp32", async () => {
    await expect(openModelFromStore(q8.folder, { weights: "f32" })).rejects.toThrow(/q8_0 weight format/);
  });

  it("a sparse engine on q8_0 shards decodes the same greedy tokens as the in-process Q8_0 engine with the same masks", async () => {
    const { model, tok } = stories();
    const ref = new Transformer(model, { weights: "q8_0" });
    const node = await openModelFromStore(q8.folder, { denseFfn: false });
    const resident = new ResidentFfn(node.store, node.transformer);
    const kept = Array.from({ length: LAYERS }, (_, l) => randomKept(HIDDEN, 86, 40 + l));
    await node.store.ensure(kept.flatMap((k, layer) => shardsForKept(k, 1, node.store.slots[layer]).map((index) => ({ layer, index }))));
    expect(node.transformer.ffn.map((b) => b.resident)).toEqual(kept.map((k) => k.length));
    const run = (tf: Transformer, build: (l: number, k: Int32Array) => ReturnType<typeof compactOf>) => {
      const s = tf.newState();
      kept.forEach((k, l) => (s.ffn[l] = build(l, k)));
      const prompt = tok.encode("Once upon a time", { bos: true });
      let logits: Float32Array = new Float32Array(0);
      prompt.forEach((t, pos) => (logits = tf.forward(s, t, pos)));
      const out: number[] = [];
      for (let pos = prompt.length; out.length < 24; pos++) {
        out.push(argmax(logits));
        logits = tf.forward(s, out.at(-1)!, pos);
      }
      return out;
    };
    const want = run(ref, (l, k) => compactOf(ref.ffn[l]!, k));
    const got = run(node.transformer, resident.build);
    expect(got).toEqual(want);
    // The masks matter: the dense Q8_0 engine decodes something else.
    const dense = run(ref, () => null as unknown as ReturnType<typeof compactOf>);
    expect(dense).not.toEqual(want);
  });

  it("a mask change fetches only the shards the node lacks: 204 bytes a neuron against 768 in f32 (3.76x fewer)", async () => {
    const moved: Record<string, number[]> = {};
    const first = Array.from({ length: LAYERS }, (_, l) => randomKept(HIDDEN, 86, 7 + l));
    const second = Array.from({ length: LAYERS }, (_, l) => randomKept(HIDDEN, 86, 70 + l));
    // Neurons of the second mask outside the first, counted here from the masks alone.
    const missing = second.reduce((n, k, l) => n + [...k].filter((j) => !first[l]!.includes(j)).length, 0);
    for (const set of [q8, f32]) {
      const node = await openModelFromStore(set.folder, { denseFfn: false });
      new ResidentFfn(node.store, node.transformer);
      const ids = (masks: Int32Array[]) => masks.flatMap((k, layer) => [...k].map((index) => ({ layer, index })));
      const perMask: number[] = [];
      for (const m of [first, second]) {
        const before = node.store.stats();
        await node.store.ensure(ids(m));
        const after = node.store.stats();
        expect(after.shardsFetched - before.shardsFetched).toBe(m === first ? LAYERS * 86 : missing);
        perMask.push(after.bytesFetched - before.bytesFetched);
      }
      moved[set.manifest.dtype] = perMask;
    }
    expect(moved.q8_0).toEqual([LAYERS * 86 * Q8_NEURON, missing * Q8_NEURON]);
    expect(moved.f32).toEqual([LAYERS * 86 * F32_NEURON, missing * F32_NEURON]);
    expect(moved.f32![1]! / moved.q8_0![1]!).toBeCloseTo(768 / 204, 6);
  });

  it("reads version 1 (f32) sets, refuses versions it does not know and q8_0 under version 1", () => {
    const m = JSON.parse(readFileSync(join(f32.dir, "manifest.json"), "utf8"));
    expect(parseManifest(JSON.stringify({ ...m, version: 1 })).dtype).toBe("f32");
    expect(() => parseManifest(JSON.stringify({ ...m, version: 3 }))).toThrow(/manifest version 3 is not supported: this build reads versions 1 and 2/);
    expect(() => parseManifest(JSON.stringify({ ...m, version: "2" }))).toThrow(ManifestError);
    const q = JSON.parse(readFileSync(join(q8.dir, "manifest.json"), "utf8"));
    expect(() => parseManifest(JSON.stringify({ ...q, version: 1 }))).toThrow(/q8_0 needs manifest version 2/);
    // A shard whose size does not fit its dtype is a broken manifest, not a read past the end later.
    q.layers[0][0].bytes = F32_NEURON;
    expect(() => parseManifest(JSON.stringify(q))).toThrow(/layer 0 shard 0: 768 bytes/);
  });

  it("a version 1 f32 set written before q8_0 existed still opens and generates", async () => {
    const dir = mkdtempSync(join(tmpdir(), "dart-shards-v1-"));
    try {
      const { folder } = f32;
      const m = JSON.parse(readFileSync(join(f32.dir, "manifest.json"), "utf8"));
      const v1 = new FolderSource(dir);
      for (const r of [m.base, ...m.layers.flat(), ...(m.tokenizer ? [m.tokenizer] : [])]) await v1.put(r.key, (await folder.get(r.key))!);
      writeFileSync(join(dir, "manifest.json"), JSON.stringify({ ...m, version: 1 }));
      const node = await openModelFromStore(v1);
      const { tf, tok } = stories();
      const s1 = tf.newState(), s2 = node.transformer.newState();
      tok.encode("Once upon a time", { bos: true }).forEach((t, pos) => {
        expect(bits(node.transformer.forward(s2, t, pos))).toEqual(bits(tf.forward(s1, t, pos)));
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a GGUF q8_0 file sharded as q8_0", () => {
  let dir: string;
  let file: string;
  let gguf: Uint8Array;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "dart-shards-gguf-q8-"));
    file = join(dir, "stories260K-q8_0.gguf");
    const { model } = stories();
    const { tokenizerData } = await import("../../cli/weights-seed.ts");
    gguf = writeLlamaGguf(model, { dtype: GGML_TYPE.Q8_0, tokenizer: tokenizerData(dataPath("stories260K.bin"), undefined, 512) });
    writeFileSync(file, gguf);
    await shardModelToFolder(file, join(dir, "set"), { neuronsPerShard: 4, dtype: "q8_0" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The file's raw bytes of row `r` of a q8_0 tensor: dim/32 blocks of [f16 d | 32 int8]. */
  const fileRow = (name: string, r: number) => {
    const t = parseGguf(gguf).tensors.get(name)!;
    expect(t.type).toBe(GGML_TYPE.Q8_0);
    const rowBytes = (t.dims[0]! / 32) * 34;
    return gguf.subarray(t.offset + r * rowBytes, t.offset + (r + 1) * rowBytes);
  };
  /** Splits GGUF blocks into their int8s and their f16 scale bytes. */
  const split = (blocks: Uint8Array) => {
    const q: number[] = [], d: number[] = [];
    for (let o = 0; o < blocks.length; o += 34) {
      d.push(blocks[o]!, blocks[o + 1]!);
      q.push(...new Int8Array(blocks.buffer, blocks.byteOffset + o + 2, 32));
    }
    return { q, d };
  };

  it("carries the file's gate and up rows and attention matrices bit for bit (int8s and f16 scale bytes)", () => {
    const set = join(dir, "set");
    const m = parseManifest(readFileSync(join(set, "manifest.json"), "utf8"));
    expect(m.dtype).toBe("q8_0");
    const shard = m.layers[2]![10]!; // neurons 40..43
    const bytes = new Uint8Array(readFileSync(join(set, shard.key)));
    for (let i = 0; i < shard.count; i++) {
      const j = shard.first + i;
      for (const [part, name] of [[0, "ffn_gate"], [1, "ffn_up"]] as const) {
        const want = split(fileRow(`blk.2.${name}.weight`, j));
        const q = Array.from(new Int8Array(bytes.buffer, bytes.byteOffset + i * 3 * DIM + part * DIM, DIM));
        const scalesAt = shard.count * 3 * DIM + i * 12 + part * 4;
        expect(q, `neuron ${j} part ${part}`).toEqual(want.q);
        expect(Array.from(bytes.subarray(scalesAt, scalesAt + 4))).toEqual(want.d);
      }
    }
    const base = new Uint8Array(readFileSync(join(set, "base.bin")));
    const t = m.base.tensors.find((x) => x.name === "blk.4.attn_v")!;
    expect(t.shape).toEqual([32, DIM]); // 4 of 8 heads for keys and values
    const file = { q: [] as number[], d: [] as number[] };
    for (let r = 0; r < 32; r++) {
      const s = split(fileRow("blk.4.attn_v.weight", r));
      file.q.push(...s.q);
      file.d.push(...s.d);
    }
    expect(Array.from(new Int8Array(base.buffer, base.byteOffset + t.offset, 32 * DIM))).toEqual(file.q);
    expect(Array.from(base.subarray(t.offset + 32 * DIM, t.offset + t.bytes))).toEqual(file.d);
  });

  it("opens as the engine --weights q8_0 builds from the file itself: same Q8_0 tensors, same logits bit for bit", async () => {
    const fromFile = new Transformer(ggufQ8Model(gguf));
    const node = await openModelFromStore(new FolderSource(join(dir, "set")));
    const wq = (tf: Transformer) => tf.weights.layers[3]!.wq as Q8Matrix;
    expect(Array.from(wq(node.transformer).q)).toEqual(Array.from(wq(fromFile).q));
    expect(Array.from(wq(node.transformer).d)).toEqual(Array.from(wq(fromFile).d));
    const { tok } = stories();
    const s1 = fromFile.newState(), s2 = node.transformer.newState();
    tok.encode("Once upon a time, there was", { bos: true }).forEach((t, pos) => {
      expect(bits(node.transformer.forward(s2, t, pos)), `position ${pos}`).toEqual(bits(fromFile.forward(s1, t, pos)));
    });
  });
});
