// Shared helpers of the reliability suite: streamed turns through the official openai client
// with client-side timings, session views, percentiles, and the report folder. The stack
// itself comes from test/serving/stack-fixture.ts (the real wrangler dev + node processes).
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import OpenAI from "openai";
import { MODEL, type Fixture } from "../serving/stack-fixture.ts";

/** Git-ignored folder the suite writes its figures to (REPORT_DIR overrides). */
export const REPORT_DIR = resolve(process.env.RELIABILITY_REPORT_DIR ?? resolve(import.meta.dirname, "../../reports/reliability"));

export function writeReport(name: string, data: unknown): string {
  mkdirSync(REPORT_DIR, { recursive: true });
  const path = resolve(REPORT_DIR, `${name}.json`);
  writeFileSync(path, JSON.stringify(data, null, 2) + "\n");
  return path;
}

export const envInt = (name: string, fallback: number) => {
  const v = Number(process.env[name]);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

export interface StreamedTurn {
  sessionId: string;
  node: string;
  text: string;
  finishReason: string | null;
  completionTokens: number;
  promptTokens: number;
  cachedTokens: number;
  /** ms from sending the request to the first content token (or to the end when there is none). */
  ttftMs: number;
  totalMs: number;
  /** The error the stream ended with, in-band or thrown. */
  error: unknown;
}

/** One streamed chat turn; never throws (a failure comes back in `error`). */
export async function streamTurn(
  client: OpenAI,
  content: string,
  opts: {
    session?: string;
    maxTokens: number;
    temperature?: number;
    extra?: Record<string, unknown>;
    signal?: AbortSignal;
    /** Called after each content chunk (the turn so far). */
    onContent?: (r: StreamedTurn) => void;
  },
): Promise<StreamedTurn> {
  const t0 = performance.now();
  const out: StreamedTurn = { sessionId: opts.session ?? "", node: "", text: "", finishReason: null, completionTokens: 0, promptTokens: 0, cachedTokens: 0, ttftMs: NaN, totalMs: NaN, error: null };
  try {
    const { data: stream, response } = await client.chat.completions
      .create(
        {
          model: MODEL,
          messages: [{ role: "user", content }],
          max_tokens: opts.maxTokens,
          temperature: opts.temperature ?? 0.8,
          stream: true,
          stream_options: { include_usage: true },
          ...(opts.session ? { session_id: opts.session } : {}),
          ...opts.extra,
        } as OpenAI.ChatCompletionCreateParamsStreaming,
        { signal: opts.signal },
      )
      .withResponse();
    out.sessionId = response.headers.get("x-session-id") ?? out.sessionId;
    out.node = response.headers.get("x-inference-node") ?? "";
    for await (const c of stream) {
      const piece = c.choices[0]?.delta.content;
      if (piece) {
        if (Number.isNaN(out.ttftMs)) out.ttftMs = performance.now() - t0;
        out.text += piece;
        opts.onContent?.(out);
      }
      if (c.choices[0]?.finish_reason) out.finishReason = c.choices[0].finish_reason;
      if (c.usage) {
        out.completionTokens = c.usage.completion_tokens;
        out.promptTokens = c.usage.prompt_tokens;
        out.cachedTokens = c.usage.prompt_tokens_details?.cached_tokens ?? 0;
      }
    }
    if (out.finishReason === null) out.error = new Error("stream ended without a finish_reason");
  } catch (e) {
    out.error = e;
  }
  out.totalMs = performance.now() - t0;
  if (Number.isNaN(out.ttftMs)) out.ttftMs = out.totalMs;
  return out;
}

export interface SessionView {
  id: string;
  turns: number;
  messages: { role: string; content: string; tokens: number; turn: number; in_context: boolean }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cached_tokens: number };
}

export async function sessionView(f: Fixture, id: string, key?: string): Promise<SessionView> {
  const r = await f.api(`/v1/sessions/${id}`, {}, key);
  if (r.status !== 200) throw new Error(`GET /v1/sessions/${id}: HTTP ${r.status} ${await r.text()}`);
  return (await r.json()) as SessionView;
}

/** Nearest-rank percentile of an unsorted sample. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const summary = (values: number[]) => ({
  p50: round(percentile(values, 50)),
  p95: round(percentile(values, 95)),
  p99: round(percentile(values, 99)),
  max: round(Math.max(...values)),
});

export const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export const describeError = (e: unknown) =>
  e instanceof OpenAI.APIError ? `${e.status ?? "in-band"} ${e.code ?? ""} ${e.message}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
