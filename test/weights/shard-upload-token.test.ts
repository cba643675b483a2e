// dart shard-upload --url takes its upload token from a file or the environment, never argv
// (any local user reads command lines in `ps`): --token is refused with a clear message, and a
// real weights Worker (wrangler dev, its token from a 0600 env file) accepts the upload made
// with --token-file and refuses a wrong token. No process's command line holds the token.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../cli/ports.ts";
import { Child } from "../../cli/supervise.ts";
import { dataPath } from "../helpers/model-dir.ts";

const root = resolve(import.meta.dirname, "../..");
const tmp = mkdtempSync(join(tmpdir(), "dart-upload-"));
const env = { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false", CI: "true", WEIGHTS_UPLOAD_TOKEN: "" };
const TOKEN = "upload-" + crypto.randomUUID();
const shards = join(tmp, "stories260K");

/** Runs `dart …` and resolves with its exit code and output (it may fail on purpose). */
function dart(args: string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [join(root, "cli/dart.ts"), ...args], { env: { ...env, ...extraEnv }, encoding: "utf8" }, (err, stdout, stderr) =>
      res({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

/** Every command line on the machine that holds `secret` (ps shows them to any user). */
const commandLinesWith = (secret: string) => execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n").filter((l) => l.includes(secret) && !l.includes("ps -eo"));

let worker: Child | undefined;
let url = "";
beforeAll(async () => {
  execFileSync(process.execPath, [join(root, "cli/dart.ts"), "shard", "--model", dataPath("stories260K.bin"), "--out", shards, "--neurons-per-shard", "64", "--json"], { env });
  const envFile = join(tmp, "upload.env");
  writeFileSync(envFile, `WEIGHTS_UPLOAD_TOKEN=${TOKEN}\n`, { mode: 0o600 });
  const port = await freePort();
  const wranglerJs = join(root, "node_modules/wrangler/bin/wrangler.js");
  worker = new Child(
    "weights",
    [wranglerJs, "dev", "-c", join(root, "workers/weights/wrangler.toml"), "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
      "--persist-to", join(tmp, "state"), "--env-file", envFile, "--show-interactive-dev-session=false", "--log-level", "warn"],
    { env, onLine: () => {} },
  );
  url = `http://127.0.0.1:${port}/weights`;
  for (let t = 0; t < 600; t++) {
    const ok = await fetch(`${url}/none`).then((r) => r.status === 404, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the weights Worker did not start");
}, 180_000);
afterAll(async () => {
  await worker?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("dart shard-upload --url", () => {
  it("refuses a token on the command line, before contacting anything", async () => {
    const r = await dart(["shard-upload", "--dir", shards, "--url", url, "--token", TOKEN]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("--token is not accepted");
    expect(r.out).toContain("WEIGHTS_UPLOAD_TOKEN");
    expect((await fetch(`${url}/stories260K/manifest.json`)).status).toBe(404);
  });

  it("refuses a wrong token from the environment (the Worker answers 403)", async () => {
    const r = await dart(["shard-upload", "--dir", shards, "--url", url, "--json"], { WEIGHTS_UPLOAD_TOKEN: "wrong" });
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/PUT \S+: HTTP 403/);
  });

  it("uploads with --token-file, and no command line holds the token", async () => {
    const file = join(tmp, "token");
    writeFileSync(file, `${TOKEN}\n`, { mode: 0o600 });
    const running = dart(["shard-upload", "--dir", shards, "--url", url, "--token-file", file, "--json"]);
    expect(commandLinesWith(TOKEN)).toEqual([]);
    const r = await running;
    expect(r.code, r.out).toBe(0);
    expect(JSON.parse(r.out.trim().split("\n").at(-1)!)).toMatchObject({ prefix: "stories260K", skipped: false, objects: 18 });
    const manifest = await fetch(`${url}/stories260K/manifest.json`);
    expect(Buffer.from(await manifest.arrayBuffer()).equals(readFileSync(join(shards, "manifest.json")))).toBe(true);
  });

  it("says which file it cannot read, and an empty one is refused", async () => {
    expect((await dart(["shard-upload", "--dir", shards, "--url", url, "--token-file", join(tmp, "missing")])).out).toContain(`cannot read --token-file ${join(tmp, "missing")}`);
    writeFileSync(join(tmp, "empty"), "\n");
    const r = await dart(["shard-upload", "--dir", shards, "--url", url, "--token-file", join(tmp, "empty")]);
    expect(r.code).toBe(2);
    expect(r.out).toContain("is empty");
  });
});
