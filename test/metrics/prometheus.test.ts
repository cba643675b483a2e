// The Prometheus formatting and the metric arithmetic, without a stack.
import { describe, expect, it } from "vitest";
import { renderGateway, sampleDeltas, sumInto, TTFT_BUCKETS } from "../../shared/metrics/gateway-metrics.ts";
import { NodeMetrics, type TurnMetrics } from "../../shared/metrics/node-metrics.ts";
import { render, series } from "../../shared/metrics/prometheus.ts";
import { histogram, parsePrometheus } from "../helpers/prometheus.ts";

const sample = (over: Partial<Parameters<typeof sampleDeltas>[0]> = {}) => ({
  method: "POST",
  route: "/v1/chat/completions",
  status: 200,
  tokensIn: 0,
  tokensOut: 0,
  ttftSeconds: null,
  ...over,
});

describe("prometheus text", () => {
  it("sorts labels and escapes quotes, backslashes and newlines", () => {
    expect(series("m", { b: "2", a: 'x"y\\z\nw' })).toBe('m{a="x\\"y\\\\z\\nw",b="2"}');
    const text = render([{ name: "m", help: "h", type: "gauge", samples: [[series("m", { a: 'q"' }), 1.5]] }]);
    expect(text).toBe('# HELP m h\n# TYPE m gauge\nm{a="q\\""} 1.5\n');
    expect(parsePrometheus(text).get('m{a="q\\""}')).toBe(1.5);
  });

  it("gateway histogram buckets are cumulative and end in +Inf = count", () => {
    const total = new Map<string, number>();
    const ttfts = [0.003, 0.04, 0.04, 0.7, 12, 99];
    for (const t of ttfts) sumInto(total, sampleDeltas(sample({ ttftSeconds: t, tokensIn: 5, tokensOut: 7 })));
    sumInto(total, sampleDeltas(sample({ status: 401 })));
    const s = parsePrometheus(renderGateway(total));
    expect(s.types.get("dart_gateway_time_to_first_token_seconds")).toBe("histogram");
    const h = histogram(s, "dart_gateway_time_to_first_token_seconds", { route: "/v1/chat/completions" });
    expect(h.buckets.map((b) => b.le)).toEqual([...TTFT_BUCKETS, Infinity]);
    for (let i = 1; i < h.buckets.length; i++) expect(h.buckets[i]!.count).toBeGreaterThanOrEqual(h.buckets[i - 1]!.count);
    expect(h.buckets.at(-1)!.count).toBe(ttfts.length);
    expect(h.count).toBe(ttfts.length);
    for (const b of h.buckets) expect(b.count).toBe(ttfts.filter((t) => t <= b.le).length);
    expect(h.sum).toBeCloseTo(ttfts.reduce((a, b) => a + b), 9);
    expect(s.get('dart_gateway_requests_total{method="POST",route="/v1/chat/completions",status="200"}')).toBe(6);
    expect(s.get('dart_gateway_requests_total{method="POST",route="/v1/chat/completions",status="401"}')).toBe(1);
    expect(s.get('dart_gateway_prompt_tokens_total{route="/v1/chat/completions"}')).toBe(30);
    expect(s.get('dart_gateway_completion_tokens_total{route="/v1/chat/completions"}')).toBe(42);
    // The other generation route is present with zeros.
    expect(s.values.has('dart_gateway_time_to_first_token_seconds_bucket{le="+Inf",route="/v1/completions"}')).toBe(true);
  });

  it("node metrics add turns up and keep the last gauges", () => {
    const m = new NodeMetrics("n1");
    const turn = (over: Partial<TurnMetrics>): TurnMetrics => ({
      method: "dart",
      stopReason: "length",
      promptTokens: 10,
      cachedTokens: 0,
      completionTokens: 20,
      prefillMs: 5,
      decodeMs: 100,
      remasks: 1,
      ffnTokens: 30,
      ffnDenseTokens: 12,
      maskSparsity: 0.5,
      ...over,
    });
    m.record(turn({}));
    m.record(turn({ cachedTokens: 8, completionTokens: 10, decodeMs: 50, remasks: 2, maskSparsity: 0.25 }));
    m.record(turn({ method: "dense", stopReason: "eos", remasks: 0, maskSparsity: null, completionTokens: 0 }));
    m.recordTrace(true);
    m.recordTrace(true);
    m.recordTrace(false);
    const gauges = { role: "sparse" as const, ffnBytes: 660_480, residentFfnBytes: 330_240, rssBytes: 123_456_789 };
    const s = parsePrometheus(m.render({ weights: { source: "file", bytesFetched: 0, shardHits: 0, shardMisses: 0 }, kvEntries: 2, kvBytes: 100, kvBudgetBytes: 1000, ...gauges }));
    expect(s.get('dart_node_trace_requests_total{result="ok"}')).toBe(2);
    expect(s.get('dart_node_trace_requests_total{result="error"}')).toBe(1);
    expect(s.get("dart_node_ffn_bytes")).toBe(660_480);
    expect(s.get("dart_node_resident_ffn_bytes")).toBe(330_240);
    expect(s.get("dart_node_rss_bytes")).toBe(123_456_789);
    expect(s.get("dart_node_generated_tokens_total")).toBe(30);
    expect(s.get("dart_node_decode_seconds_total")).toBeCloseTo(0.25);
    expect(s.get("dart_node_decode_tokens_per_second")).toBeCloseTo(200); // the last turn that generated
    expect(s.get('dart_node_kv_cache_lookups_total{result="hit"}')).toBe(1);
    expect(s.get('dart_node_kv_cache_lookups_total{result="miss"}')).toBe(2);
    expect(s.get('dart_node_remask_events_total{method="dart"}')).toBe(3);
    expect(s.get('dart_node_ffn_sparsity{method="dart"}')).toBe(0.25);
    expect(s.values.has('dart_node_ffn_sparsity{method="dense"}')).toBe(false);
    expect(s.get('dart_node_ffn_tokens_total{method="dart",mode="sparse"}')).toBe(36);
    expect(s.get('dart_node_turns_total{method="dense",stop_reason="eos"}')).toBe(1);
    expect(s.get('dart_node_info{node="n1",role="sparse",weight_source="file"}')).toBe(1);
    expect(s.get("dart_node_weight_bytes_fetched_total")).toBe(0);
  });
});
