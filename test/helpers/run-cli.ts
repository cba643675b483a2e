import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "../..");

/** Runs the real `dart` CLI in a child process (the Node running the tests, so Node 22). */
export function dart(args: string[], opts: { timeout?: number } = {}) {
  const r = spawnSync(process.execPath, [resolve(REPO, "cli/dart.ts"), ...args], {
    cwd: REPO,
    encoding: "utf8",
    timeout: opts.timeout ?? 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
