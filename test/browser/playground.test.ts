// The playground in real headless Chromium against the real stack: open the page, chat,
// see the text stream in, see the charts drawn from the session's own DART data, and
// save a screenshot (test-artifacts/playground.png, git-ignored).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROMIUM_HINT, chromiumPath } from "../helpers/chromium.ts";
import { KEY_A, startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";

const ARTIFACTS = resolve(import.meta.dirname, "../../test-artifacts");
const CHROMIUM = chromiumPath();
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

let f: Fixture;
let profile: string;
let ctx: BrowserContext;
let page: Page;
const offsite: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  if (!CHROMIUM || !existsSync(CHROMIUM)) throw new Error(`no Chromium${CHROMIUM ? ` at ${CHROMIUM}` : ""}: ${CHROMIUM_HINT}`);
  // A slow simulated device (40 ms a token) so the stream is visibly incremental.
  f = await startFixture({ nodes: 1, tokenDelayMs: 40 });
  profile = mkdtempSync(join(tmpdir(), "dart-chromium-"));
  ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 1000 } });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  const origin = new URL(f.stack.url).origin;
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (new URL(u).origin === origin) return route.continue();
    offsite.push(u);
    return route.abort();
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
}, 180_000);

afterAll(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await disposeFixtures();
});

const attr = (sel: string, name: string) => page.$eval(sel, (e, n) => Number(e.getAttribute(n) ?? "NaN"), name);

async function sessionView(id: string) {
  const r = await f.api(`/v1/sessions/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as { dart: { events: { kind: string; remask: boolean; cosine?: number }[]; masks: { kept: number; total: number }[] } };
}

describe("playground", () => {
  it("is served by the Worker with a CSP that allows nothing from elsewhere", async () => {
    const res = await page.goto(`${f.stack.url}/playground`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-type"]).toMatch(/^text\/html/);
    const csp = res?.headers()["content-security-policy"] ?? "";
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'/);
    await page.waitForSelector("body[data-state=idle]");
    // Every DART method is offered; the defaults come from DART_DEFAULTS.
    expect(await page.$$eval("#method option", (o) => o.map((x) => (x as unknown as { value: string }).value))).toContain("dart");
    expect(await page.$eval("#method", (s) => (s as unknown as { value: string }).value)).toBe("dart");
    expect(await attr("#drift", "data-points")).toBe(0);
  });

  it("streams a reply and draws the session's drift, masks and bytes", async () => {
    await page.fill("#key", KEY_A);
    await page.fill("#maxTokens", "64");
    // Per-layer budgets ("auto") and 40% sparsity: the layer chart must show the session's own, uneven kept fractions.
    await page.selectOption("#budget", "auto");
    await page.$eval("#sparsity", (e) => {
      const input = e as unknown as { value: string; dispatchEvent(ev: unknown): void };
      input.value = "0.4";
      input.dispatchEvent(new (globalThis as any).Event("input"));
    });
    expect(await page.$eval("#sparsityValue", (e) => e.textContent)).toBe("0.40");
    await page.fill("#input", "Once upon a time, a little dog went to the park");
    await page.click("#send");
    // Text appears while the turn is still streaming.
    // (This file is type-checked without the DOM library, hence globalThis.document; the
    // predicates are functions because the page's CSP forbids evaluating strings.)
    await page.waitForFunction(
      () => {
        const doc = (globalThis as any).document;
        return doc.body.dataset.state === "streaming" && (doc.querySelector(".msg.assistant .text")?.textContent ?? "").length > 0;
      },
      null,
      { timeout: 30_000 },
    );
    const partial = await page.$eval(".msg.assistant .text", (e) => e.textContent ?? "");
    // The drift chart gets the turn's DART events live, before the turn ends.
    await page.waitForFunction(
      () => {
        const doc = (globalThis as any).document;
        return doc.body.dataset.state === "streaming" && Number(doc.getElementById("drift").getAttribute("data-events")) > 0;
      },
      null,
      { timeout: 30_000 },
    );
    await page.waitForSelector("body[data-state=idle]", { timeout: 60_000 });
    const full = await page.$eval(".msg.assistant .text", (e) => e.textContent ?? "");
    expect(full.startsWith(partial)).toBe(true);
    expect(full.length).toBeGreaterThan(partial.length);
    expect(await page.$$(".msg.error")).toHaveLength(0);

    const id = await page.$eval("#sessionId", (e) => e.textContent ?? "");
    expect(id).toMatch(/^sess_/);
    const view = await sessionView(id);
    const windows = view.dart.events.filter((e) => e.kind === "window");
    const built = view.dart.events.filter((e) => e.kind === "mask" && !e.remask);
    // The charts plot exactly what the session holds.
    expect(await attr("#drift", "data-events")).toBe(view.dart.events.length);
    expect(await attr("#drift", "data-points")).toBe(windows.length);
    expect(windows.length).toBeGreaterThan(0);
    expect(await page.$$eval("#drift circle", (c) => c.length)).toBe(windows.length);
    expect(await attr("#drift", "data-remasks")).toBe(view.dart.events.filter((e) => e.kind === "mask" && e.remask).length);
    expect(await attr("#layers", "data-points")).toBe(view.dart.masks.length);
    expect(await page.$$eval("#layers rect", (r) => r.length)).toBe(view.dart.masks.length);
    expect(await attr("#bytes", "data-points")).toBe(built.length);
    expect(await page.$eval("#statMethod", (e) => e.textContent)).toBe("dart @ 0.4 (auto)");
    const heights = await page.$$eval("#layers rect", (r) => r.map((x) => Number(x.getAttribute("height"))));
    const kept = view.dart.masks.map((m) => m.kept / m.total);
    // Bar heights are proportional to the kept fractions the session reports.
    heights.forEach((h, i) => expect(h / heights[0]!).toBeCloseTo(kept[i]! / kept[0]!, 2));
    expect(await page.$eval("#method", (e) => (e as unknown as { disabled: boolean }).disabled)).toBe(true);

    // A second turn in the same session adds points to the drift chart.
    await page.fill("#input", "Then the cat said hello");
    await page.click("#send");
    await page.waitForFunction((n) => Number((globalThis as any).document.getElementById("drift").getAttribute("data-events")) > n, view.dart.events.length, { timeout: 60_000 });
    await page.waitForSelector("body[data-state=idle]", { timeout: 60_000 });
    const view2 = await sessionView(id);
    expect(await attr("#drift", "data-points")).toBe(view2.dart.events.filter((e) => e.kind === "window").length);
    expect(await page.$$(".msg.assistant")).toHaveLength(2);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "playground.png"), fullPage: true });
    expect(offsite).toEqual([]);
    expect(problems).toEqual([]);
  });
});
