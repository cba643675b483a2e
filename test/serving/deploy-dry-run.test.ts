// The CI check for deployment: `wrangler deploy --dry-run` bundles the gateway Worker and
// its Durable Objects offline, exactly as `npm run deploy` would upload them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";

const root = resolve(import.meta.dirname, "../..");
const wrangler = join(dirname(createRequire(join(root, "package.json")).resolve("wrangler/package.json")), "bin", "wrangler.js");
const out = mkdtempSync(join(tmpdir(), "dart-deploy-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

it("wrangler deploy --dry-run bundles the Worker with both Durable Object classes", () => {
  const log = execFileSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", out], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  expect(log).toMatch(/--dry-run: exiting now/);
  const bundle = readdirSync(out).find((f) => f.endsWith(".js"));
  expect(bundle).toBeDefined();
  const code = readFileSync(join(out, bundle!), "utf8");
  expect(code).toMatch(/var SessionObject = class extends DurableObject/);
  expect(code).toMatch(/var RateLimiter = class extends DurableObject/);
  expect(code).toMatch(/export \{[^}]*RateLimiter,[^}]*SessionObject/s);
  expect(code).toMatch(/\/v1\/chat\/completions/);
  expect(code).not.toMatch(/from "node:/); // nothing Node-only reached the Worker
});
