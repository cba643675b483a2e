// API key checks inside workerd: salted PBKDF2 entries and bare SHA-256 ones both work,
// and failed authentications are rate limited per client address before any key is checked.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { hashApiKey, keyMatches, parseKeyHashes, sha256Hex } from "../../shared/security/api-key-hash.ts";
import { AUTH_FAILURES_PER_MINUTE, KEY, OTHER_KEY } from "./keys.ts";

const get = (path: string, key: string | null, ip: string) =>
  SELF.fetch(`https://gateway.test${path}`, { headers: { "cf-connecting-ip": ip, ...(key === null ? {} : { authorization: `Bearer ${key}` }) } });

describe("API key digests", () => {
  it("accepts the salted key (KEY) and the bare SHA-256 one (OTHER_KEY), nothing else", async () => {
    expect((await get("/v1/models", KEY, "198.51.100.1")).status).toBe(200);
    expect((await get("/v1/models", OTHER_KEY, "198.51.100.1")).status).toBe(200);
    expect((await get("/v1/models", KEY + "x", "198.51.100.1")).status).toBe(401);
  });

  it("salts each entry: the same key hashes differently twice, and both entries verify it", async () => {
    const [a, b] = [await hashApiKey("sk-weak", 1000), await hashApiKey("sk-weak", 1000)];
    expect(a).not.toBe(b);
    expect(a).not.toContain(await sha256Hex("sk-weak"));
    expect(await keyMatches("sk-weak", parseKeyHashes(a))).toBe(true);
    expect(await keyMatches("sk-weak", parseKeyHashes(b))).toBe(true);
    expect(await keyMatches("sk-weak2", parseKeyHashes(`${a},${b}`))).toBe(false);
    // Malformed entries are ignored, not crashes.
    expect(parseKeyHashes("pbkdf2-sha256:abc:xx:yy, pbkdf2-sha256:1000000:AAAAAAAAAAA:AAAA, zz")).toEqual([]);
  });
});

describe("failed authentications", () => {
  it("answers 429 with Retry-After once an address has used up its failures, before checking another key", async () => {
    const ip = "203.0.113.7";
    for (let i = 0; i < AUTH_FAILURES_PER_MINUTE; i++) expect((await get("/v1/models", `sk-guess-${i}`, ip)).status).toBe(401);
    const blocked = await get("/v1/models", "sk-guess-x", ip);
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(((await blocked.json()) as { error: { code: string } }).error.code).toBe("too_many_auth_failures");
    // A missing key counts too, and /metrics shares the budget.
    expect((await get("/v1/models", null, ip)).status).toBe(429);
    expect((await get("/metrics", "nope", ip)).status).toBe(429);
    // Another address is unaffected.
    expect((await get("/v1/models", "sk-guess-y", "203.0.113.8")).status).toBe(401);
    expect((await get("/v1/models", OTHER_KEY, "203.0.113.8")).status).toBe(200);
  });
});
