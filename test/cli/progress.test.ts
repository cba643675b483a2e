// Progress of long CLI jobs: a rewritten line on a terminal's stderr, nothing with --json or
// when stderr is not a terminal. The real CLI runs under a pseudo-terminal (util-linux `script`).
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { progress } from "../../cli/progress.ts";
import { dataPath } from "../helpers/model-dir.ts";

const REPO = resolve(import.meta.dirname, "../..");
const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** Runs `dart <args>` with stdin/stdout/stderr on a pseudo-terminal; returns everything it wrote. */
function dartOnTty(args: string[], timeout = 120_000): { code: number | null; out: string } {
  const cmd = [process.execPath, resolve(REPO, "cli/dart.ts"), ...args].map(quote).join(" ");
  const r = spawnSync("script", ["-qec", cmd, "/dev/null"], { cwd: REPO, encoding: "utf8", timeout, env: { ...process.env, CLOUDFLARE_CF_FETCH_ENABLED: "false", WRANGLER_SEND_METRICS: "false" } });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe("progress()", () => {
  const realTty = process.stderr.isTTY;
  const realWrite = process.stderr.write;
  afterEach(() => {
    process.stderr.isTTY = realTty;
    process.stderr.write = realWrite;
  });
  const capture = (tty: boolean) => {
    const out: string[] = [];
    process.stderr.isTTY = tty;
    process.stderr.write = ((s: string) => (out.push(s), true)) as typeof process.stderr.write;
    return out;
  };

  it("rewrites one line on a terminal and ends it", () => {
    const out = capture(true);
    const p = progress("job", false);
    for (let i = 1; i <= 50; i++) p(i, 50, "items");
    p.done();
    process.stderr.write = realWrite;
    // Throttled: the first update and the last always show, not every one in between.
    expect(out.length).toBeGreaterThanOrEqual(3);
    expect(out.length).toBeLessThan(50);
    expect(out[0]).toMatch(/^\rjob: 1\/50 items \(2%/);
    expect(out.at(-2)).toMatch(/^\rjob: 50\/50 items \(100%/);
    expect(out.at(-1)).toBe("\n");
  });

  it("is silent when quiet (--json) or when stderr is not a terminal", () => {
    for (const [tty, quiet] of [[true, true], [false, false]] as const) {
      const out = capture(tty);
      const p = progress("job", quiet);
      p(1, 2, "items");
      p(2, 2, "items");
      p.done();
      process.stderr.write = realWrite;
      expect(out).toEqual([]);
    }
  });
});

describe("long CLI jobs on a terminal", () => {
  const model = dataPath("stories260K.bin");
  const text = dataPath("tinystories-valid-dev.txt");

  it("dart eval shows window progress, and none with --json", () => {
    const r = dartOnTty(["eval", "--model", model, "--text", text, "--max-tokens", "1600"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\reval: \d+\/\d+ windows/);
    expect(r.out).toMatch(/eval: (\d+)\/\1 windows \(100%/);
    expect(r.out).toMatch(/perplexity \d/);
    const j = dartOnTty(["eval", "--model", model, "--text", text, "--max-tokens", "1600", "--json"]);
    expect(j.code).toBe(0);
    expect(j.out).not.toMatch(/eval: \d/);
    expect(JSON.parse(j.out.trim()).perplexity).toBeGreaterThan(1);
  });

  it("dart serve-bench shows step progress, and none with --json", () => {
    const args = ["serve-bench", "--model", model, "--turns", "1", "--max-tokens", "4", "--methods", "dense"];
    const r = dartOnTty(args);
    expect(r.code).toBe(0);
    // 1 stack start + (stream, 1 turn, cold turn) for one method.
    expect(r.out).toMatch(/serve-bench: 4\/4 steps \(100%/);
    const j = dartOnTty([...args, "--json"]);
    expect(j.code).toBe(0);
    expect(j.out).not.toMatch(/serve-bench: \d/);
    expect(JSON.parse(j.out.trim()).dense.turns).toHaveLength(1);
  }, 180_000);

  it("dart shard and dart shard-upload show object progress, and none with --json", () => {
    const tmp = mkdtempSync(join(tmpdir(), "dart-progress-"));
    try {
      const out = join(tmp, "shards");
      const r = dartOnTty(["shard", "--model", model, "--out", out, "--neurons-per-shard", "4"]);
      expect(r.code).toBe(0);
      // 2 objects (base, tokenizer) + 5 layers x ceil(172 / 4) shards.
      expect(r.out).toMatch(/shard: 217\/217 objects \(100%/);
      const j = dartOnTty(["shard", "--model", model, "--out", out, "--neurons-per-shard", "4", "--json"]);
      expect(j.code).toBe(0);
      expect(j.out).not.toMatch(/shard: \d/);
      expect(JSON.parse(j.out.trim()).shards).toBe(215);
      const up = dartOnTty(["shard-upload", "--dir", out, "--local", "--persist-to", join(tmp, "state")]);
      expect(up.code).toBe(0);
      expect(up.out).toMatch(/upload: 218\/218 objects \(100%/); // and the manifest
      const again = dartOnTty(["shard-upload", "--dir", out, "--local", "--persist-to", join(tmp, "state"), "--force", "--json"]);
      expect(again.code).toBe(0);
      expect(again.out).not.toMatch(/upload: \d/);
      expect(JSON.parse(again.out.trim()).objects).toBe(218);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it("dart bench --transfer shows step progress", () => {
    const r = dartOnTty(["bench", "--transfer", "--model", model, "--shard-sizes", "1"]);
    expect(r.code).toBe(0);
    // drift, conversation, activation order, then 3 measurements for the one shard size.
    expect(r.out).toMatch(/bench: 6\/6 steps \(100%/);
  });
});
