// Test helper: the real stories260K model cut into a shard set in a fresh temp folder.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildShardSet, type BuildOptions } from "../../shared/weights/build.ts";
import type { Manifest } from "../../shared/weights/manifest.ts";
import { FolderSource } from "../../workers/weights/folder-source.ts";
import { expect } from "vitest";
import { packedWeights, type CompactFfn } from "../../shared/engine/compact-ffn.ts";
import { dataPath, stories } from "../helpers/model-dir.ts";
import { shardModelToFolder } from "../../cli/weights-seed.ts";

export interface TempShardSet {
  dir: string;
  folder: FolderSource;
  manifest: Manifest;
  remove(): void;
}

export async function tempShardSet(opts: Partial<BuildOptions> = {}): Promise<TempShardSet> {
  const dir = mkdtempSync(join(tmpdir(), "dart-shards-"));
  const folder = new FolderSource(dir);
  const manifest = await buildShardSet(stories().model, { neuronsPerShard: 16, ...opts }, folder.put);
  return { dir, folder, manifest, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** stories260K's whole FFN in bytes: 5 layers x 172 neurons x (gate, up, down) x dim 64 x f32. */
export const STORIES_FFN_BYTES = 5 * 172 * 3 * 64 * 4;

/**
 * The shard set a serving node loads (cli/weights-seed.ts, as the local stack seeds it): one
 * neuron per shard, with the tokenizer and DART's forward proxy and W_down norms.
 */
export async function servingShardSet(): Promise<TempShardSet> {
  const dir = mkdtempSync(join(tmpdir(), "dart-shards-"));
  const manifest = await shardModelToFolder(dataPath("stories260K.bin"), dir, { neuronsPerShard: 1 });
  return { dir, folder: new FolderSource(dir), manifest, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export { randomKept } from "../../cli/random-kept.ts";

export const bits = (a: Float32Array | Int32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Bit-exact equality of two compacted FFNs (kept list and every kept neuron's weights). */
export function expectSameCompact(got: CompactFfn, want: CompactFfn): void {
  expect(bits(got.kept)).toEqual(bits(want.kept));
  const [g, w] = [packedWeights(got), packedWeights(want)];
  expect(bits(g.gate)).toEqual(bits(w.gate));
  expect(bits(g.up)).toEqual(bits(w.up));
  expect(bits(g.downT)).toEqual(bits(w.downT));
}
