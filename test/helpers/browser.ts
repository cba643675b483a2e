// Headless Chromium for the browser tests (playwright-core driving the system's Chromium):
// one set of flags, and a clear error, naming how to get it, when there is none.
import { existsSync } from "node:fs";
import { chromium, type BrowserContext } from "playwright-core";
import { CHROMIUM_HINT, chromiumPath } from "./chromium.ts";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** A persistent headless context in `profile` (a temporary folder the caller removes). */
export function launchChromium(profile: string, options: { viewport?: { width: number; height: number } } = {}): Promise<BrowserContext> {
  const path = chromiumPath();
  if (!path || !existsSync(path)) throw new Error(`no Chromium${path ? ` at ${path}` : ""}: ${CHROMIUM_HINT}`);
  return chromium.launchPersistentContext(profile, { executablePath: path, headless: true, args: FLAGS, ...options });
}
