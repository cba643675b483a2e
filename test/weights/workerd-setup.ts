// Global setup (Node) for the workerd weight-store tests: workerd cannot read the
// model folder, so Node cuts the real stories260K into shards and hands the bytes
// over, together with reference CompactFfn digests computed from the dense model.
import { createHash } from "node:crypto";
import type { TestProject } from "vitest/node";
import { compactFromDense, packedWeights } from "../../shared/engine/compact-ffn.ts";
import { buildShardSet } from "../../shared/weights/build.ts";
import { MemorySource } from "../../shared/weights/source.ts";
import { stories } from "../helpers/model-dir.ts";
import { randomKept } from "./shard-set.ts";
import "./workerd-fixture.ts";


export default async function setup(project: TestProject): Promise<void> {
  const { model } = stories();
  const mem = new MemorySource();
  await buildShardSet(model, { neuronsPerShard: 16 }, mem.put);
  const objects: Record<string, string> = {};
  for (const [k, v] of mem.objects) objects[k] = Buffer.from(v).toString("base64");
  const masks = [1, 2].map((seed) => {
    const kept = Array.from({ length: 5 }, (_, l) => randomKept(172, 12, seed * 10 + l));
    const digests = kept.map((k, l) => {
      const c = packedWeights(compactFromDense(model.weights.layers[l]!, 64, 172, k));
      const h = createHash("sha256");
      for (const a of [c.gate, c.up, c.downT]) h.update(new Uint8Array(a.buffer));
      return h.digest("hex");
    });
    return { kept: kept.map((k) => [...k]), digests };
  });
  project.provide("weightsFixture", { objects, masks });
}
