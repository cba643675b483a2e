// The gateway's metrics: what one request contributes (as counter deltas keyed by series)
// and how summed counters render as Prometheus text. Platform-free: the Worker sends the
// deltas to its metrics Durable Object, which only adds numbers up.
import { histogramSamples, observeDeltas, render, series, seriesName, type Family } from "./prometheus.ts";

/** Time to first token buckets, seconds. */
export const TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface RequestSample {
  method: string;
  /** Matched route pattern ("/v1/sessions/:id"), or "unmatched". */
  route: string;
  status: number;
  /** Prompt and completion tokens of a completed generation (0 otherwise). */
  tokensIn: number;
  tokensOut: number;
  /** Seconds from the request's arrival to its first generated text; null when none came. */
  ttftSeconds: number | null;
}

const REQUESTS = "dart_gateway_requests_total";
const TOKENS_IN = "dart_gateway_prompt_tokens_total";
const TOKENS_OUT = "dart_gateway_completion_tokens_total";
const TTFT = "dart_gateway_time_to_first_token_seconds";

export function sampleDeltas(s: RequestSample): [string, number][] {
  const out: [string, number][] = [[series(REQUESTS, { method: s.method, route: s.route, status: String(s.status) }), 1]];
  if (s.tokensIn > 0) out.push([series(TOKENS_IN, { route: s.route }), s.tokensIn]);
  if (s.tokensOut > 0) out.push([series(TOKENS_OUT, { route: s.route }), s.tokensOut]);
  if (s.ttftSeconds !== null) out.push(...observeDeltas(TTFT, { route: s.route }, TTFT_BUCKETS, s.ttftSeconds));
  return out;
}

/** Adds delta lists into one map (several metrics shards, or several requests). */
export function sumInto(total: Map<string, number>, deltas: Iterable<[string, number]>): Map<string, number> {
  for (const [k, v] of deltas) total.set(k, (total.get(k) ?? 0) + v);
  return total;
}

const GENERATION_ROUTES = ["/v1/chat/completions", "/v1/completions"];

function pick(values: Map<string, number>, name: string): [string, number][] {
  return [...values].filter(([s]) => seriesName(s) === name).sort(([a], [b]) => a.localeCompare(b));
}

/** Prometheus text of the summed counters; the generation routes' series are always present. */
export function renderGateway(values: Map<string, number>): string {
  const withDefaults = (name: string) => {
    const got = new Map(pick(values, name));
    for (const route of GENERATION_ROUTES) {
      const s = series(name, { route });
      if (!got.has(s)) got.set(s, 0);
    }
    return [...got].sort(([a], [b]) => a.localeCompare(b));
  };
  const families: Family[] = [
    { name: REQUESTS, help: "HTTP requests answered by the gateway, by method, matched route and status (GET /metrics excluded).", type: "counter", samples: pick(values, REQUESTS) },
    { name: TOKENS_IN, help: "Prompt tokens of completed generations (as billed in usage.prompt_tokens).", type: "counter", samples: withDefaults(TOKENS_IN) },
    { name: TOKENS_OUT, help: "Generated tokens of completed generations (usage.completion_tokens).", type: "counter", samples: withDefaults(TOKENS_OUT) },
    {
      name: TTFT,
      help: "Seconds from a generation request's arrival at the gateway to its first generated text.",
      type: "histogram",
      samples: GENERATION_ROUTES.flatMap((route) => histogramSamples(TTFT, { route }, TTFT_BUCKETS, values)),
    },
  ];
  return render(families);
}
