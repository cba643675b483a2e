import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Two projects: plain Node tests, and `*.workerd.test.ts` files that run inside
// workerd (Miniflare) with real bindings, e.g. the weights R2 bucket.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: { name: "node", include: ["test/**/*.test.ts"], exclude: ["test/**/*.workerd.test.ts", "**/node_modules/**"] },
      },
      {
        extends: true,
        plugins: [
          cloudflareTest({
            main: "./workers/weights/worker.ts",
            miniflare: {
              compatibilityDate: "2026-11-01",
              r2Buckets: { WEIGHTS: "dart-weights" },
              bindings: { WEIGHTS_UPLOAD_TOKEN: "test-upload-token" },
            },
          }),
        ],
        test: {
          name: "workerd",
          include: ["test/**/*.workerd.test.ts"],
          globalSetup: ["test/weights/workerd-setup.ts"],
        },
      },
    ],
  },
});
