// Runs inside workerd: the weight store against a real R2 binding, and the
// weights Worker route that serves the bucket over HTTP.
import { env, SELF } from "cloudflare:test";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { FfnDeltaLoader } from "../../shared/weights/ffn-loader.ts";
import { sha256Hex } from "../../shared/weights/hash.ts";
import { HttpSource } from "../../shared/weights/http-source.ts";
import { ShardIntegrityError } from "../../shared/weights/source.ts";
import { WeightStore } from "../../shared/weights/store.ts";
import { R2Source, type R2BucketLike } from "../../workers/weights/r2-source.ts";
import { MAX_BATCH_BYTES } from "../../workers/weights/route.ts";
import "./workerd-fixture.ts";
import { packedWeights, type CompactFfn } from "../../shared/engine/compact-ffn.ts";

const fixture = inject("weightsFixture");
// Typed as the runtime R2Bucket first: this checks R2Bucket satisfies R2BucketLike.
const bucket: R2BucketLike = (env as unknown as { WEIGHTS: R2Bucket }).WEIGHTS;
const PREFIX = "stories260K";
const decode = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

async function digest(c: CompactFfn): Promise<string> {
  const f = packedWeights(c);
  const all = new Uint8Array(f.gate.byteLength * 3);
  [f.gate, f.up, f.downT].forEach((a, i) => all.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), i * a.byteLength));
  return sha256Hex(all);
}

describe("weight store on a real R2 binding (workerd)", () => {
  beforeEach(async () => {
    const r2 = new R2Source(bucket, PREFIX);
    for (const [key, b64] of Object.entries(fixture.objects)) await r2.put(key, decode(b64));
  });

  it("loads masks from R2, fetching only missing shards, equal to compactFromDense", async () => {
    const store = await WeightStore.open(new R2Source(bucket, PREFIX));
    const loader = new FfnDeltaLoader(store);
    let fetchedBefore = 0;
    for (const mask of fixture.masks) {
      const kept = mask.kept.map((k) => Int32Array.from(k));
      const { ffn, report } = await loader.load(kept);
      for (let l = 0; l < 5; l++) expect(await digest(ffn[l]!)).toBe(mask.digests[l]);
      expect(store.stats().bytesFetched - fetchedBefore).toBe(report.bytesFetched);
      fetchedBefore = store.stats().bytesFetched;
    }
    const [a, b] = fixture.masks.map((m) => m.kept.map((k) => new Set(k.map((j) => Math.floor(j / 16)))));
    const fresh = b!.reduce((n, s, l) => n + [...s].filter((x) => !a![l]!.has(x)).length, 0);
    const total = a!.reduce((n, s) => n + s.size, 0) + fresh;
    expect(store.stats().shardsFetched).toBe(total);
  });

  it("refetches once, then refuses a shard corrupted in the bucket", async () => {
    const key = "ffn/3/4.bin";
    const bad = decode(fixture.objects[key]!);
    bad[0] ^= 0x80;
    await bucket.put(`${PREFIX}/${key}`, bad);
    const store = await WeightStore.open(new R2Source(bucket, PREFIX));
    const err = await store.ensure([{ layer: 3, index: 4 }]).catch((e) => e);
    expect(err).toBeInstanceOf(ShardIntegrityError);
    expect(err.message).toContain(`r2 WEIGHTS/${PREFIX}`);
    expect(store.stats().refetches).toBe(1);
    expect(store.isResident({ layer: 3, index: 4 })).toBe(false);
  });

  it("serves the bucket over the weights route, readable by HttpSource", async () => {
    const http = new HttpSource(`http://weights.test/weights/${PREFIX}/`, (u, i) => SELF.fetch(u, i));
    const store = await WeightStore.open(http);
    const [bytes] = await store.ensure([{ layer: 0, index: 2 }]);
    expect(await sha256Hex(bytes!)).toBe(store.manifest.layers[0]![2]!.sha256);
    expect((await SELF.fetch(`http://weights.test/weights/${PREFIX}/nope.bin`)).status).toBe(404);
    expect((await SELF.fetch(`http://weights.test/weights/../x`)).status).toBeGreaterThanOrEqual(400);
    const put = (auth?: string) =>
      SELF.fetch(`http://weights.test/weights/up/x.bin`, { method: "PUT", body: "abc", headers: auth ? { authorization: auth } : {} });
    expect((await put()).status).toBe(403);
    expect((await put("Bearer test-upload-token")).status).toBe(204);
    expect(new TextDecoder().decode((await new R2Source(bucket, "up").get("x.bin"))!)).toBe("abc");
  });

  it("fetches many shards per request through the batch route, and still verifies each", async () => {
    const requests: string[] = [];
    const counted = (u: string, i?: RequestInit) => {
      requests.push(`${i?.method ?? "GET"} ${new URL(u).pathname}`);
      return SELF.fetch(u, i);
    };
    const http = new HttpSource(`http://weights.test/weights/${PREFIX}/`, counted);
    const store = await WeightStore.open(http, { batchSize: 64 });
    requests.length = 0;
    const kept = fixture.masks[0]!.kept.map((k) => Int32Array.from(k));
    const { ffn, report } = await new FfnDeltaLoader(store).load(kept);
    for (let l = 0; l < 5; l++) expect(await digest(ffn[l]!)).toBe(fixture.masks[0]!.digests[l]);
    expect(report.shardsFetched).toBeGreaterThan(1);
    expect(report.shardsFetched).toBeLessThanOrEqual(64);
    expect(requests).toEqual([`POST /weights/${PREFIX}/_batch`]);
    // A shard corrupted in the bucket: the batch copy fails, one GET refetch fails too.
    const bad = decode(fixture.objects["ffn/1/7.bin"]!);
    bad[5] ^= 0x10;
    await bucket.put(`${PREFIX}/ffn/1/7.bin`, bad);
    const fresh = await WeightStore.open(http);
    requests.length = 0;
    const err = await fresh.ensure([{ layer: 1, index: 6 }, { layer: 1, index: 7 }]).catch((e) => e);
    expect(err).toBeInstanceOf(ShardIntegrityError);
    expect(requests).toEqual([`POST /weights/${PREFIX}/_batch`, `GET /weights/${PREFIX}/ffn/1/7.bin`]);
    const res = await SELF.fetch(`http://weights.test/weights/${PREFIX}/_batch`, { method: "POST", body: JSON.stringify({ keys: ["../x"] }) });
    expect(res.status).toBe(400);
  });

  it("serves each key of a batch once, caps its bytes (413, then GETs) and refuses bad percent-encoding", async () => {
    const batch = (keys: string[]) => SELF.fetch(`http://weights.test/weights/${PREFIX}/_batch`, { method: "POST", body: JSON.stringify({ keys }) });
    // 255 copies of the base blob: one copy comes back, not 255.
    const base = decode(fixture.objects["base.bin"]!);
    const res = await batch(Array.from({ length: 255 }, () => "base.bin").concat(["nope.bin"]));
    expect(res.status).toBe(200);
    expect(res.headers.get("x-weights-sizes")).toBe(`${base.byteLength},-1`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(base);
    // Through the client: duplicates in, one object per key out.
    const http = new HttpSource(`http://weights.test/weights/${PREFIX}/`, (u, i) => SELF.fetch(u, i));
    const got = await http.getMany!(["base.bin", "ffn/0/1.bin", "base.bin"]);
    expect(got[0]).toEqual(base);
    expect(got[2]).toEqual(base);
    expect(got[1]).toEqual(decode(fixture.objects["ffn/0/1.bin"]!));
    // Two objects over the cap together: 413 from the route; the client then GETs each.
    const big = new Uint8Array(MAX_BATCH_BYTES / 2 + 1).fill(7);
    await bucket.put(`${PREFIX}/big/a.bin`, big);
    await bucket.put(`${PREFIX}/big/b.bin`, big);
    const over = await batch(["big/a.bin", "big/b.bin"]);
    expect(over.status).toBe(413);
    await over.body?.cancel();
    const [a, b] = await http.getMany!(["big/a.bin", "big/b.bin"]);
    expect(a!.byteLength).toBe(big.byteLength);
    expect(b!.byteLength).toBe(big.byteLength);
    // A path that is not valid percent-encoding is a 400, not a 500 (URIError).
    expect((await SELF.fetch(`http://weights.test/weights/%E0%A4%A`)).status).toBe(400);
  });
});
