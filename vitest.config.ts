// Two projects: "node" (engine, CLI, serving end to end: real processes) and "workers"
// (gateway and Durable Objects inside workerd through @cloudflare/vitest-plugin, with one
// real inference node started by test/workers/global-setup.ts), and "weights-workerd"
// (`*.workerd.test.ts`: the weight store on a real R2 binding and the weights Worker).
import { createHash, pbkdf2Sync, randomBytes } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { AUTH_FAILURES_PER_MINUTE, KEY, MAX_MESSAGES_PER_REQUEST, MAX_SESSION_MESSAGES, LIMITED_KEY, MAX_BODY_BYTES, OTHER_KEY, RATE_LIMIT_PER_MINUTE } from "./test/workers/keys.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
/** The salted form of API_KEY_HASHES (shared/security/api-key-hash.ts), for the main test key. */
const pbkdf2Entry = (s: string) => {
  const salt = randomBytes(16);
  return `pbkdf2-sha256:100000:${salt.toString("base64url")}:${pbkdf2Sync(s, salt, 100_000, 32, "sha256").toString("base64url")}`;
};

export default defineConfig({
  test: {
    // .ci/run reads the JSON report to print "N passed, N failed".
    reporters: ["default", ["json", { outputFile: ".cache/vitest.json" }]],
    projects: [
      {
        test: {
          name: "node",
          include: ["test/**/*.test.ts"],
          exclude: ["test/workers/**", "test/**/*.workerd.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => ({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                NODES: inject("nodeUrl"),
                // One salted entry and two bare SHA-256 ones (the older format still works).
                API_KEY_HASHES: [pbkdf2Entry(KEY), sha256(OTHER_KEY), sha256(LIMITED_KEY)].join(","),
                RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
                MAX_BODY_BYTES: String(MAX_BODY_BYTES),
                AUTH_FAILURES_PER_MINUTE: String(AUTH_FAILURES_PER_MINUTE),
                MAX_MESSAGES_PER_REQUEST: String(MAX_MESSAGES_PER_REQUEST),
                MAX_SESSION_MESSAGES: String(MAX_SESSION_MESSAGES),
              },
            },
          })),
        ],
        test: {
          name: "workers",
          include: ["test/workers/**/*.test.ts"],
          globalSetup: ["test/workers/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            main: "./workers/weights/worker.ts",
            miniflare: {
              compatibilityDate: "2026-11-01",
              r2Buckets: { WEIGHTS: "dart-edge-weights" },
              bindings: { WEIGHTS_UPLOAD_TOKEN: "test-upload-token" },
            },
          }),
        ],
        test: {
          name: "weights-workerd",
          include: ["test/**/*.workerd.test.ts"],
          globalSetup: ["test/weights/workerd-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
