// dart shard + dart shard-upload --local, read back by wrangler itself from the
// same local state (what `wrangler dev --persist-to` serves to the R2 binding).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { dataPath } from "../helpers/model-dir.ts";
import { localBucket, seedLocalWeights } from "../../cli/weights-seed.ts";
import { FfnDeltaLoader } from "../../shared/weights/ffn-loader.ts";
import { WeightStore } from "../../shared/weights/store.ts";

const root = resolve(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "dart-seed-"));
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" };
const dart = (...args: string[]) => execFileSync(process.execPath, [join(root, "cli/dart.ts"), ...args], { encoding: "utf8", env });

describe("seeding wrangler dev's local R2 bucket", () => {
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("uploads a shard set once, readable by wrangler r2 object get --local", () => {
    const dir = join(tmp, "stories260K");
    const state = join(tmp, "state");
    const shard = JSON.parse(dart("shard", "--model", dataPath("stories260K.bin"), "--out", dir, "--neurons-per-shard", "64", "--json"));
    expect(shard).toMatchObject({ shards: 15, ffnBytes: 5 * 172 * 3 * 64 * 4, forwardProxy: true });
    const up = JSON.parse(dart("shard-upload", "--dir", dir, "--local", "--persist-to", state, "--json"));
    expect(up).toMatchObject({ prefix: "stories260K", skipped: false, objects: 18 }); // manifest, base, tokenizer, 15 shards
    const got = execFileSync(
      process.execPath,
      [join(root, "node_modules/wrangler/bin/wrangler.js"), "r2", "object", "get", "dart-edge-weights/stories260K/ffn/3/2.bin",
        "--local", "--persist-to", state, "--pipe", "-c", join(root, "workers/weights/wrangler.toml")],
      { env, cwd: root },
    );
    expect(Buffer.compare(got, readFileSync(join(dir, "ffn/3/2.bin")))).toBe(0);
    expect(JSON.parse(dart("shard-upload", "--dir", dir, "--local", "--persist-to", state, "--json"))).toMatchObject({ skipped: true, objects: 0 });
  });

  it("seedLocalWeights (for the stack launcher) shards once, uploads once, and the store opens from that bucket", async () => {
    const opts = { modelPath: dataPath("stories260K.bin"), persistDir: join(tmp, "state2"), cacheDir: join(tmp, "cache"), neuronsPerShard: 64 };
    const first = await seedLocalWeights(opts);
    expect(first).toMatchObject({ prefix: "stories260K", skipped: false, objects: 18 });
    const again = await seedLocalWeights(opts);
    expect(again).toMatchObject({ skipped: true, objects: 0 });
    const bucket = await localBucket(opts.persistDir);
    try {
      const store = await WeightStore.open({ description: "local r2", get: (k) => bucket.get(`stories260K/${k}`) });
      const { report } = await new FfnDeltaLoader(store).load(Array.from({ length: 5 }, () => Int32Array.from([0, 100])));
      expect(report.shardsFetched).toBe(10);
      expect(store.manifest.ffnBytes).toBe(first.manifest.ffnBytes);
    } finally {
      await bucket.close();
    }
  });
});
