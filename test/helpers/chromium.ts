// Where the playground's browser test finds Chromium, and `npm test`'s pretest step that
// makes sure it is there: on a fresh Debian machine run as root it installs Debian's
// `chromium` with apt-get; otherwise it says, before any test runs, what is missing and how
// to get it (the other tests still run; test/browser then fails with the same words).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/usr/bin/google-chrome-stable"];

export const CHROMIUM_HINT = "install it with `sudo apt-get install chromium` (Debian, Ubuntu), or set CHROMIUM_PATH to a Chromium or Chrome binary";

/** CHROMIUM_PATH when set (even if wrong, so the error names it), else the first browser found. */
export function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  return CANDIDATES.find((p) => existsSync(p));
}

function install(): boolean {
  if (process.getuid?.() !== 0 || spawnSync("sh", ["-c", "command -v apt-get"]).status !== 0) return false;
  process.stderr.write("npm test: Chromium (for test/browser) is missing; installing Debian's chromium with apt-get...\n");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => spawnSync("apt-get", args, { env, stdio: ["ignore", "ignore", "inherit"] }).status === 0;
  return run(["update", "-qq"]) && run(["install", "-y", "-qq", "chromium"]);
}

// Run as a script (the pretest step): `node test/helpers/chromium.ts`.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const found = chromiumPath();
  if (found && !existsSync(found)) process.stderr.write(`npm test: CHROMIUM_PATH=${found} does not exist; test/browser will fail.\n`);
  else if (!found && !(install() && chromiumPath())) {
    process.stderr.write(`npm test: Chromium is missing, so test/browser/playground.test.ts will fail: ${CHROMIUM_HINT}.\n`);
  }
}
