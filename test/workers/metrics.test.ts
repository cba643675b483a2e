// Gateway metrics inside workerd: the MetricsObject adds deltas up durably, /metrics sums
// shards and needs a bearer, the playground page is served with its CSP.
import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { sampleDeltas } from "../../shared/metrics/gateway-metrics.ts";
import { KEY } from "./keys.ts";

const metrics = (key: string | null = KEY) => SELF.fetch("https://gateway.test/metrics", key ? { headers: { authorization: `Bearer ${key}` } } : {});

function value(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe("MetricsObject", () => {
  it("adds deltas up and reads them back", async () => {
    const stub = env.METRICS.get(env.METRICS.idFromName("unit-test"));
    const s = { method: "GET", route: "/x", status: 200, tokensIn: 3, tokensOut: 4, ttftSeconds: 0.2 };
    await stub.add(sampleDeltas(s));
    await stub.add(sampleDeltas({ ...s, tokensIn: 5 }));
    const rows = new Map((await stub.read()).map((r) => [r.series, r.value]));
    expect(rows.get('dart_gateway_requests_total{method="GET",route="/x",status="200"}')).toBe(2);
    expect(rows.get('dart_gateway_prompt_tokens_total{route="/x"}')).toBe(8);
    expect(rows.get('dart_gateway_time_to_first_token_seconds_bucket{le="0.25",route="/x"}')).toBe(2);
    expect(rows.get('dart_gateway_time_to_first_token_seconds_bucket{le="0.1",route="/x"}')).toBeUndefined();
  });
});

describe("GET /metrics in the Worker", () => {
  it("refuses scrapers without an accepted bearer", async () => {
    expect((await metrics(null)).status).toBe(401);
    expect((await metrics("sk-nope")).status).toBe(401);
  });

  it("counts requests by route and status", async () => {
    const series = 'dart_gateway_requests_total{method="GET",route="/v1/models/:id",status="404"}';
    const before = value(await (await metrics()).text(), series);
    for (let i = 0; i < 3; i++) {
      const r = await SELF.fetch("https://gateway.test/v1/models/nope", { headers: { authorization: `Bearer ${KEY}` } });
      expect(r.status).toBe(404);
    }
    // Samples are written after the response (waitUntil): poll briefly.
    let after = before;
    for (let i = 0; i < 50 && after < before + 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
      after = value(await (await metrics()).text(), series);
    }
    expect(after - before).toBe(3);
  });

  it("labels weight-store requests /weights/*, and only unknown paths unmatched", async () => {
    const weights = await SELF.fetch("https://gateway.test/weights/stories260K/manifest.json");
    const unknown = await SELF.fetch("https://gateway.test/no-such-path");
    expect(unknown.status).toBe(404);
    const wanted = [`dart_gateway_requests_total{method="GET",route="/weights/*",status="${weights.status}"}`, 'dart_gateway_requests_total{method="GET",route="unmatched",status="404"}'];
    let text = "";
    for (let i = 0; i < 50 && !wanted.every((w) => text.includes(w)); i++) {
      await new Promise((r) => setTimeout(r, 50));
      text = await (await metrics()).text();
    }
    for (const w of wanted) expect(text).toContain(w);
    expect(text).not.toMatch(new RegExp(`route="unmatched",status="${weights.status}"`));
  });
});

describe("GET /playground", () => {
  it("serves one self-contained page under a hash CSP", async () => {
    const r = await SELF.fetch("https://gateway.test/playground");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toMatch(/^text\/html/);
    const csp = r.headers.get("content-security-policy")!;
    expect(csp).toMatch(/default-src 'none'/);
    const html = await r.text();
    // Nothing refers to another origin: no src/href attributes at all, no URLs but the SVG namespace.
    expect(html).not.toMatch(/\s(src|href)="(?!data:)/); // data: URIs (the favicon) are part of the page
    expect(html.match(/https?:\/\/[^"\s]+/g) ?? []).toEqual(["http://www.w3.org/2000/svg"]);
    // The CSP hashes are those of the inline script and stylesheet.
    const digest = async (s: string) => btoa(String.fromCharCode(...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s)))));
    const script = /<script>([\s\S]*)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    expect(csp).toContain(`script-src 'sha256-${await digest(script)}'`);
    expect(csp).toContain(`style-src 'sha256-${await digest(style)}'`);
  });
});
