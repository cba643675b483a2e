// `dart prepare` computes DART's per-model priors once, with progress on stderr, caches them
// by the file's sha256, and later runs (and `dart generate`) read them back.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { afterAll, describe, expect, it } from "vitest";
import { proxyRows } from "../../shared/dart/forward-proxy.ts";
import { dataPath } from "../helpers/model-dir.ts";

const cache = mkdtempSync(join(tmpdir(), "dart-prepare-"));
afterAll(() => rmSync(cache, { recursive: true, force: true }));

function prepare(args: string[]) {
  const r = spawnSync(process.execPath, [join(import.meta.dirname, "../../cli/dart.ts"), "prepare", ...args], {
    encoding: "utf8", timeout: 120_000, env: { ...process.env, DART_CACHE_DIR: cache },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("dart prepare", () => {
  const model = dataPath("stories260K.bin");
  const key = createHash("sha256").update(readFileSync(model)).digest("hex").slice(0, 16);

  it("computes the proxy and both generic priors with progress, under the file's sha256", () => {
    const r = prepare(["--model", model, "--json"]);
    expect(r.stderr).toMatch(/forward proxy \(layers\) 5\/5/);
    expect(r.stderr).toMatch(/generic prior "self" \(tokens\) 2048\/2048/);
    expect(r.stderr).toMatch(/generic prior "text" \(tokens\) (\d+)\/\1/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.key).toBe(key);
    expect(out.cached).toEqual({ proxy: false, "generic-self": false, "generic-text": false });
    for (const f of Object.values(out.files as Record<string, string>)) {
      expect(f.startsWith(join(cache, key))).toBe(true);
      expect(existsSync(f)).toBe(true);
    }
  });

  it("a second run reads them back without computing, and says so", () => {
    const r = prepare(["--model", model, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).cached).toEqual({ proxy: true, "generic-self": true, "generic-text": true });
    expect(r.stderr).not.toMatch(/generic prior/);
  });

  it("--weights q8_0 computes the Q8_0 engine's priors into files of their own, never the fp32 ones", () => {
    const f32 = JSON.parse(prepare(["--model", model, "--json"]).stdout);
    const r = prepare(["--model", model, "--weights", "q8_0", "--json"]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.weights).toBe("q8_0");
    expect(out.cached).toEqual({ proxy: false, "generic-self": false, "generic-text": false });
    for (const w of ["proxy", "generic-self", "generic-text"]) {
      expect(out.files[w].startsWith(join(cache, `${key}-q8_0.`))).toBe(true);
      // Computed on Q8_0 weights: other values than the fp32 model's.
      expect(readFileSync(out.files[w]).equals(readFileSync(f32.files[w]))).toBe(false);
    }
    expect(JSON.parse(prepare(["--model", model, "--weights", "q8_0", "--json"]).stdout).cached).toEqual({ proxy: true, "generic-self": true, "generic-text": true });
  });

  it("a missing --model is a usage error", () => {
    const r = prepare([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--model/);
  });

  it("the proxy reads every row of a small vocabulary and an even-stride sample of a large one", () => {
    expect(Array.from(proxyRows(5, 16))).toEqual([0, 1, 2, 3, 4]);
    const rows = proxyRows(128256, 16384);
    expect(rows.length).toBe(16384);
    expect(rows[0]).toBe(0);
    expect(rows[16383]).toBeGreaterThan(128256 - 9);
    expect(new Set(rows).size).toBe(16384);
  });
});
