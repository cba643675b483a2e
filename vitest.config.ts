// Two projects: "node" (engine, CLI, serving end to end: real processes) and "workers"
// (gateway and Durable Objects inside workerd through @cloudflare/vitest-plugin, with one
// real inference node started by test/workers/global-setup.ts), and "weights-workerd"
// (`*.workerd.test.ts`: the weight store on a real R2 binding and the weights Worker).
import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { KEY, LIMITED_KEY, MAX_BODY_BYTES, OTHER_KEY, RATE_LIMIT_PER_MINUTE } from "./test/workers/keys.ts";

const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

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
                API_KEY_HASHES: [KEY, OTHER_KEY, LIMITED_KEY].map(sha256).join(","),
                RATE_LIMIT_PER_MINUTE: String(RATE_LIMIT_PER_MINUTE),
                MAX_BODY_BYTES: String(MAX_BODY_BYTES),
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
