// The playground's Content-Security-Policy in real headless Chromium against the real stack:
// a script injected into the page (an inline <script>, an inline event handler, a script loaded
// from the gateway's own origin) does not run, and Chromium reports each as a CSP violation.
// The same injections run on a page without the policy, so the test would catch a lost CSP.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../helpers/browser.ts";
import { startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";

let f: Fixture;
let profile: string;
let ctx: BrowserContext;
let page: Page;

beforeAll(async () => {
  // The browser first: a missing Chromium fails before any stack starts.
  profile = mkdtempSync(join(tmpdir(), "dart-chromium-"));
  ctx = await launchChromium(profile);
  f = await startFixture({ nodes: 1, nodeWeights: "file" });
  page = ctx.pages()[0] ?? (await ctx.newPage());
}, 300_000);
afterAll(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await disposeFixtures();
});

/**
 * Injects three scripts into the current page; resolves with what ran and the CSP violations
 * seen. Runs in the page (a string: this project's TypeScript has no DOM types).
 */
function inject(p: Page, origin: string): Promise<{ ran: string[]; violations: string[] }> {
  return p.evaluate(`(async () => {
    window.__ran = [];
    const violations = [];
    document.addEventListener("securitypolicyviolation", (e) => violations.push(e.effectiveDirective));
    const inline = document.createElement("script");
    inline.textContent = "window.__ran.push('inline')";
    document.body.appendChild(inline);
    const holder = document.createElement("div");
    holder.innerHTML = '<img src="data:," onerror="window.__ran.push(\\'handler\\')">';
    document.body.appendChild(holder);
    // Same origin: 'self' is not a script source either.
    const external = document.createElement("script");
    external.src = ${JSON.stringify(origin + "/healthz")};
    external.onload = () => window.__ran.push("external-loaded");
    document.body.appendChild(external);
    await new Promise((r) => setTimeout(r, 500));
    return { ran: window.__ran, violations };
  })()`);
}

describe("playground CSP", () => {
  it("blocks scripts injected into the page and reports each violation", async () => {
    const res = await page.goto(`${f.stack.url}/playground`);
    expect(res!.status()).toBe(200);
    expect(res!.headers()["content-security-policy"]).toContain("script-src 'sha256-");
    const { ran, violations } = await inject(page, f.stack.url);
    expect(ran).toEqual([]);
    expect(violations).toEqual(expect.arrayContaining(["script-src-elem", "script-src-attr"]));
    expect(violations.filter((v) => v === "script-src-elem")).toHaveLength(2); // the inline and the external script
  });

  it("the same injections run on a page without the policy (the control)", async () => {
    await page.goto("about:blank");
    await page.setContent("<!doctype html><html><body></body></html>");
    const { ran, violations } = await inject(page, f.stack.url);
    expect(ran).toEqual(expect.arrayContaining(["inline", "handler"]));
    expect(violations).toEqual([]);
  });
});
