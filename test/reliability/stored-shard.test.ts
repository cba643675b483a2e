// A corrupted stored shard. The model's shard set is seeded into wrangler dev's local R2
// state (cli/weights-seed.ts, as the stack launcher does); then bytes of stored objects are
// damaged ON DISK (bit rot of the blob files, not an API write), the weights Worker serves the
// bucket under a real `wrangler dev`, and the weight store client (HttpSource + WeightStore +
// FfnDeltaLoader, what a node uses) reads it. A damaged shard must be detected and never used;
// intact shards must still load. (A node refusing a shard corrupted in R2 through the API is
// covered by test/serving; this is damage to the stored files themselves.)
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../cli/stack.ts";
import { seedLocalWeights } from "../../cli/weights-seed.ts";
import { FfnDeltaLoader } from "../../shared/weights/ffn-loader.ts";
import { HttpSource } from "../../shared/weights/http-source.ts";
import type { Manifest } from "../../shared/weights/manifest.ts";
import { ShardIntegrityError, WeightStoreError } from "../../shared/weights/source.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { dataPath } from "../helpers/model-dir.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const PREFIX = "stories260K";
const dir = mkdtempSync(join(tmpdir(), "dart-shards-"));
const persistDir = join(dir, "state");
const cacheDir = join(dir, "shards");
let manifest: Manifest;
let wrangler: ChildProcess | undefined;
let base = "";
const output: string[] = [];
/** Keys damaged on disk, and how. */
const FLIPPED = { layer: 1, index: 3 };
const TRUNCATED = { layer: 3, index: 0 };

function filesUnder(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(d, e.name)) : [join(d, e.name)]));
}

/** The blob file in wrangler's local R2 state that holds exactly `bytes`. */
function blobFileOf(bytes: Buffer): string {
  const hits = filesUnder(join(persistDir, "v3", "r2")).filter((p) => statSync(p).size === bytes.length && readFileSync(p).equals(bytes));
  if (hits.length !== 1) throw new Error(`expected one blob file with the shard's bytes, found ${hits.length}`);
  return hits[0]!;
}

async function waitFor(url: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (wrangler?.exitCode !== null) throw new Error(`wrangler exited:\n${output.join("")}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      /* not yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} not ready in ${ms} ms:\n${output.join("")}`);
}

beforeAll(async () => {
  // Shards of 4 neurons: a few hundred objects, seeded in seconds.
  ({ manifest } = await seedLocalWeights({ modelPath: dataPath("stories260K.bin"), persistDir, cacheDir, prefix: PREFIX, neuronsPerShard: 4 }));
  const flipped = manifest.layers[FLIPPED.layer]![FLIPPED.index]!.key;
  const truncated = manifest.layers[TRUNCATED.layer]![TRUNCATED.index]!.key;
  const f1 = blobFileOf(readFileSync(join(cacheDir, flipped)));
  const b1 = readFileSync(f1);
  b1[Math.floor(b1.length / 2)]! ^= 0x01; // one bit
  writeFileSync(f1, b1);
  const f2 = blobFileOf(readFileSync(join(cacheDir, truncated)));
  writeFileSync(f2, readFileSync(f2).subarray(0, 10));

  const port = await freePort();
  const wranglerJs = join(dirname(createRequire(join(ROOT, "package.json")).resolve("wrangler/package.json")), "bin", "wrangler.js");
  wrangler = spawn(
    process.execPath,
    [wranglerJs, "dev", "-c", "workers/weights/wrangler.toml", "--persist-to", persistDir, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()), "--show-interactive-dev-session=false", "--log-level", "warn"],
    { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" } },
  );
  for (const s of [wrangler.stdout!, wrangler.stderr!]) s.on("data", (d: Buffer) => output.push(d.toString()));
  base = `http://127.0.0.1:${port}/weights/${PREFIX}/`;
  await waitFor(`${base}manifest.json`, 90_000);
}, 180_000);

afterAll(async () => {
  if (wrangler?.pid && wrangler.exitCode === null) {
    const exited = new Promise((r) => wrangler!.once("exit", r));
    try {
      process.kill(-wrangler.pid, "SIGTERM");
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-wrangler!.pid!, "SIGKILL");
      } catch {
        /* gone */
      }
    }, 5000);
    await exited;
    clearTimeout(t);
  }
  rmSync(dir, { recursive: true, force: true });
});

describe("a stored shard damaged on disk", () => {
  for (const batch of [true, false]) {
    it(`is detected and never made resident; intact shards load (${batch ? "batch route" : "one GET per shard"})`, async () => {
      const store = await WeightStore.open(new HttpSource(base, undefined, { batch }));
      // One flipped bit: the bytes arrive, their sha256 differs from the manifest's; fetched once more, then refused.
      const err = await store.ensure([FLIPPED, { layer: 0, index: 0 }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ShardIntegrityError);
      expect((err as ShardIntegrityError).key).toBe(store.shardRef(FLIPPED).key);
      expect(store.stats().refetches).toBe(1);
      expect(store.isResident(FLIPPED)).toBe(false);
      // A truncated blob: wrangler dev's local R2 cannot even read it back (the route answers 500), so
      // the store gets a transport error instead of bytes; either way nothing is made resident.
      const err2 = await store.ensure([TRUNCATED]).catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(WeightStoreError);
      expect(store.isResident(TRUNCATED)).toBe(false);
      // Asking again does not turn a refusal into a use.
      await expect(store.ensure([FLIPPED])).rejects.toBeInstanceOf(ShardIntegrityError);
      // Every intact shard of the damaged layers is served, verified, byte for byte what was seeded.
      for (const layer of [FLIPPED.layer, TRUNCATED.layer]) {
        const ids = manifest.layers[layer]!.map((_, index) => ({ layer, index })).filter((id) => id.index !== (layer === FLIPPED.layer ? FLIPPED.index : TRUNCATED.index));
        const got = await store.ensure(ids);
        for (const [i, id] of ids.entries()) expect(Buffer.from(got[i]!).equals(readFileSync(join(cacheDir, store.shardRef(id).key)))).toBe(true);
      }
    });
  }

  it("a mask that needs the damaged shard yields no FFN weights; one that avoids the damage loads", async () => {
    const store = await WeightStore.open(new HttpSource(base));
    const loader = new FfnDeltaLoader(store);
    const { nLayers, hiddenDim } = manifest.config;
    const damaged = (l: number, n: number) => [FLIPPED, TRUNCATED].some((d) => d.layer === l && d.index === store.shardOf(l, n));
    const mask = (withDamaged: boolean) =>
      Array.from({ length: nLayers }, (_, l) => Int32Array.from({ length: hiddenDim }, (_, n) => n).filter((n) => !damaged(l, n) || (withDamaged && l === FLIPPED.layer)));
    const err = await loader.load(mask(true)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShardIntegrityError);
    expect((err as ShardIntegrityError).key).toBe(store.shardRef(FLIPPED).key);
    const ok = await loader.load(mask(false));
    expect(ok.ffn).toHaveLength(nLayers);
    expect(ok.ffn.every((f, l) => f.kept.length === mask(false)[l]!.length)).toBe(true);
    expect(store.isResident(FLIPPED)).toBe(false);
  });
});
