// `dart hash-key` reads a key from stdin and prints a salted PBKDF2 entry that Node's own
// PBKDF2 (an independent implementation) reproduces.
import { spawnSync } from "node:child_process";
import { pbkdf2Sync } from "node:crypto";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const run = (input: string) =>
  spawnSync(process.execPath, [resolve(import.meta.dirname, "../../cli/dart.ts"), "hash-key"], { input, encoding: "utf8", timeout: 60_000 });

describe("dart hash-key", () => {
  it("prints pbkdf2-sha256:<iterations>:<salt>:<digest> for the key on stdin", () => {
    const r = run("sk-secret-key\n");
    expect(r.status).toBe(0);
    const [scheme, iterations, salt, digest] = r.stdout.trim().split(":");
    expect(scheme).toBe("pbkdf2-sha256");
    const expected = pbkdf2Sync("sk-secret-key", Buffer.from(salt!, "base64url"), Number(iterations), 32, "sha256").toString("base64url");
    expect(digest).toBe(expected);
    expect(run("sk-secret-key").stdout).not.toBe(r.stdout); // a fresh salt each time
  });

  it("refuses an empty stdin with usage and exit code 2", () => {
    const r = run("");
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: dart hash-key/);
  });
});
