// The gateway Worker and its Durable Objects in Miniflare directly, from wrangler.toml's own
// settings and the bundle `wrangler deploy` would upload, without `wrangler dev`'s ProxyWorker
// in front (it forwards each request with a detached fetch, so a caller's cancellation never
// reaches the gateway). Beside it, any other Worker a test names, bound to it as GATEWAY.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { build } from "esbuild";
import { Miniflare, type WorkerOptions } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";

const root = resolve(import.meta.dirname, "../..");

/** Bundles the gateway into `outDir` exactly as `wrangler deploy` does; returns the module's path. */
function bundleGateway(outDir: string): string {
  const wrangler = join(dirname(createRequire(join(root, "package.json")).resolve("wrangler/package.json")), "bin", "wrangler.js");
  execFileSync(process.execPath, [wrangler, "deploy", "--dry-run", "--outdir", outDir], {
    cwd: root,
    env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return join(outDir, readdirSync(outDir).find((f) => f.endsWith(".js"))!);
}

/** Bundles a Worker module for workerd (its npm imports included). */
async function bundleWorker(entry: string): Promise<string> {
  const r = await build({ entryPoints: [entry], bundle: true, format: "esm", platform: "browser", conditions: ["workerd", "worker", "browser"], write: false, logLevel: "silent" });
  return r.outputFiles[0]!.text;
}

/**
 * Starts Miniflare with the gateway (wrangler.toml's bindings, compatibility flags and vars,
 * `vars` on top) and a client Worker (`clientEntry`) whose GATEWAY binding is the gateway.
 */
export async function startMiniflareGateway(outDir: string, vars: Record<string, string>, clientEntry: string): Promise<Miniflare> {
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml"));
  const gateway = workerOptions as WorkerOptions & { bindings?: Record<string, unknown> };
  const mf = new Miniflare({
    workers: [
      { ...gateway, name: "gateway", modules: true, scriptPath: bundleGateway(outDir), modulesRoot: outDir, bindings: { ...gateway.bindings, ...vars } } as WorkerOptions,
      { name: "client", modules: true, script: await bundleWorker(clientEntry), compatibilityDate: gateway.compatibilityDate, serviceBindings: { GATEWAY: "gateway" } },
    ],
  });
  await mf.ready;
  return mf;
}
