// The playground in real headless Chromium against the real stack: open the page, chat,
// see the text stream in, see the charts drawn from the session's own DART data, and
// save a screenshot (test-artifacts/playground.png, git-ignored).
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium } from "../helpers/browser.ts";
import { KEY_A, startFixture, disposeFixtures, type Fixture } from "../serving/stack-fixture.ts";

const ARTIFACTS = resolve(import.meta.dirname, "../../test-artifacts");

let f: Fixture;
let profile: string;
let ctx: BrowserContext;
let page: Page;
const offsite: string[] = [];
const problems: string[] = [];

beforeAll(async () => {
  // The browser first: a missing Chromium fails before any stack starts.
  profile = mkdtempSync(join(tmpdir(), "dart-chromium-"));
  ctx = await launchChromium(profile, { viewport: { width: 1280, height: 1000 } });
  // A slow simulated device (40 ms a token) so the stream is visibly incremental.
  // Like `npm start`: a full node and a sparse node, both loading from the weight store.
  f = await startFixture({ nodes: 1, sparseNodes: 1, tokenDelayMs: 40 });
  page = ctx.pages()[0] ?? (await ctx.newPage());
  const origin = new URL(f.stack.url).origin;
  await page.route("**/*", (route) => {
    const u = route.request().url();
    if (new URL(u).origin === origin) return route.continue();
    offsite.push(u);
    return route.abort();
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
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

type BuiltOn = { node: string; role: string; weights: string };
async function sessionView(id: string) {
  const r = await f.api(`/v1/sessions/${id}`);
  expect(r.status).toBe(200);
  return (await r.json()) as {
    dart: { events: { kind: string; remask: boolean; cosine?: number; bytesFetched?: number; builtOn?: BuiltOn }[]; masks: { kept: number; total: number }[] };
    messages: { role: string; content: string; tokens: number }[];
  };
}

type Box = { text: string; x: number; y: number; w: number; h: number };
/** Every label of a chart with its box in the chart's own units, and the chart's viewBox size. */
const labels = (sel: string) =>
  page.$eval(sel, (svg: any) => {
    const vb = { width: svg.viewBox.baseVal.width as number, height: svg.viewBox.baseVal.height as number };
    const r = svg.getBoundingClientRect();
    const k = vb.width / r.width; // screen pixels -> chart units (labels inside a translated group included)
    const boxes = Array.from(svg.querySelectorAll("text") as ArrayLike<any>).map((t): Box => {
      const b = t.getBoundingClientRect();
      return { text: t.textContent, x: (b.left - r.left) * k, y: (b.top - r.top) * k, w: b.width * k, h: b.height * k };
    });
    return { vb, boxes };
  });

/** No label of the chart sticks out of it (clipped) or covers another. */
async function expectLabelsFit(sel: string) {
  const { vb, boxes } = await labels(sel);
  expect(boxes.length).toBeGreaterThan(0);
  for (const b of boxes) {
    expect(b.x, `${sel} "${b.text}" clipped left`).toBeGreaterThanOrEqual(0);
    expect(b.x + b.w, `${sel} "${b.text}" clipped right`).toBeLessThanOrEqual(vb.width);
    expect(b.y, `${sel} "${b.text}" clipped top`).toBeGreaterThanOrEqual(0);
    expect(b.y + b.h, `${sel} "${b.text}" clipped bottom`).toBeLessThanOrEqual(vb.height);
  }
  const overlap = (a: Box, b: Box) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b) => expect(overlap(a, b), `${sel}: "${a.text}" overlaps "${b.text}"`).toBe(false)));
}

/** Tick values sit at round values: equal steps of 1, 2, 2.5 or 5 times a power of ten. */
function expectRoundTicks(values: number[]) {
  expect(values.length).toBeGreaterThanOrEqual(2);
  const step = values[1]! - values[0]!;
  const mantissa = step / 10 ** Math.floor(Math.log10(step));
  expect([1, 2, 2.5, 5].some((m) => Math.abs(mantissa - m) < 1e-6), `step ${step}`).toBe(true);
  for (const v of values) expect(Math.abs(v / step - Math.round(v / step)), `tick ${v} is not a multiple of ${step}`).toBeLessThan(1e-6);
  values.slice(1).forEach((v, i) => expect(v - values[i]!).toBeCloseTo(step, 6));
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

    // A second turn in the same session adds points to the drift chart. It closes a story and is
    // answered greedily (the test sets temperature 0 on the page's request), so its reply starts
    // with the line break the model puts after a finished story, every run: the leading-blank
    // check below then never rests on a sampled first token.
    const greedy = (route: import("playwright-core").Route) =>
      route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData() ?? "{}"), temperature: 0 }) });
    await page.route("**/v1/chat/completions", greedy);
    await page.fill("#input", "The dog ran home.");
    await page.click("#send");
    await page.waitForFunction((n) => Number((globalThis as any).document.getElementById("drift").getAttribute("data-events")) > n, view.dart.events.length, { timeout: 60_000 });
    await page.waitForSelector("body[data-state=idle]", { timeout: 60_000 });
    await page.unroute("**/v1/chat/completions", greedy);
    const view2 = await sessionView(id);
    expect(await attr("#drift", "data-points")).toBe(view2.dart.events.filter((e) => e.kind === "window").length);
    expect(await page.$$(".msg.assistant")).toHaveLength(2);


    // Ticks at round values; no label clipped or overlapping, in every chart.
    // (y ticks are the numbers anchored at their end, x ticks the numbers centred under the axis)
    const tickValues = async (anchor: string) =>
      (await page.$$eval(`#drift text[text-anchor=${anchor}]`, (t) => t.map((x) => x.textContent ?? "")))
        .filter((t) => /^-?\d+(\.\d+)?$/.test(t))
        .map(Number)
        .sort((a, b) => a - b);
    const yTicks = await tickValues("end");
    expectRoundTicks(yTicks);
    expect(yTicks.at(-1)).toBe(1);
    expectRoundTicks(await tickValues("middle"));
    for (const chart of ["#drift", "#layers", "#bytes"]) await expectLabelsFit(chart);
    expect((await labels("#drift")).boxes.filter((b) => /^turn \d+$/.test(b.text)).length).toBeGreaterThan(0);

    // Each mask built names the node it was built on: the stack's own nodes, all on the weight store.
    const builtOn = view2.dart.events.filter((e) => e.kind === "mask" && !e.remask).map((e) => e.builtOn!);
    expect(builtOn.length).toBeGreaterThan(0);
    const roles = new Map(f.stack.nodes.map((n) => [n.name, n.role]));
    for (const b of builtOn) expect({ role: b.role, weights: b.weights }).toEqual({ role: roles.get(b.node), weights: "store" });
    // The bytes note explains 0 B bars by those nodes, and never as a node without a weight store.
    const zeroOn = new Set(view2.dart.events.filter((e) => e.kind === "mask" && !e.remask && !e.bytesFetched).map((e) => e.builtOn!.node));
    const note = await page.$eval("#bytesNote", (e) => e.textContent ?? "");
    expect(note).not.toMatch(/whole model|no weight store/);
    if (zeroOn.size > 0) for (const n of zeroOn) expect(note).toContain(`${n} (${roles.get(n)} node)`);
    else expect(note).not.toMatch(/0 B:/);

    // A reply continues the story after a space or line break; its bubble starts at its first visible character.
    const shown = await page.$$eval(".msg.assistant .text", (t) => t.map((x) => x.textContent ?? ""));
    const stored = view2.messages.filter((m) => m.role === "assistant").map((m) => m.content);
    expect(stored.some((c) => /^\s/.test(c))).toBe(true);
    expect(shown).toEqual(stored.map((c) => c.replace(/^\s+/, "")));

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "playground.png"), fullPage: true });
    expect(offsite).toEqual([]);
    expect(problems).toEqual([]);
  });

  it("says why a reply is empty: the model's end-of-text token came first", async () => {
    // The model does this by itself in about 2% of turns (after a message that closes a story);
    // the test makes it certain by adding a logit bias for stories260K's end-of-text token
    // (BOS, id 1: it separates the stories of its training data) to the page's own request.
    await page.route("**/v1/chat/completions", (route) =>
      route.continue({ postData: JSON.stringify({ ...JSON.parse(route.request().postData() ?? "{}"), logit_bias: { "1": 100 } }) }),
    );
    await page.fill("#input", "The dog ran home.");
    await page.click("#send");
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll(".msg.assistant .meta").length > n, 2, { timeout: 60_000 });
    await page.waitForSelector("body[data-state=idle]", { timeout: 60_000 });
    await page.unroute("**/v1/chat/completions");
    const id = await page.$eval("#sessionId", (e) => e.textContent ?? "");
    const last = (await sessionView(id)).messages.at(-1)!;
    expect(last).toMatchObject({ role: "assistant", content: "", tokens: 0 });
    const bubble = (await page.$$(".msg.assistant")).at(-1)!;
    expect(await bubble.$eval(".text", (e) => e.textContent)).toMatch(/^\(no reply: the model's first token was its end-of-text token/);
    expect(await bubble.$eval(".meta", (e) => e.textContent)).toMatch(/^0 tokens \(stop\)/);
    // Reloaded, the page shows the same reason from the session's history.
    await page.reload();
    await page.waitForFunction((n) => (globalThis as any).document.querySelectorAll(".msg.assistant").length === n, 3, { timeout: 30_000 });
    expect(await (await page.$$(".msg.assistant .text")).at(-1)!.textContent()).toMatch(/^\(no reply: /);
    expect(problems).toEqual([]);
  });

  it("has an icon: linked as a data: URI, and served at /favicon.ico", async () => {
    expect(await page.$eval("link[rel=icon]", (l) => l.getAttribute("href"))).toMatch(/^data:image\/svg\+xml,/);
    const r = await fetch(`${f.stack.url}/favicon.ico`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("image/svg+xml");
    expect(await r.text()).toMatch(/^<svg /);
  });
});
