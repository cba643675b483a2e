// An inference node's metrics: counters summed over completed turns plus the last turn's
// gauges, rendered as Prometheus text. Platform-free; the node feeds it one record per turn.
import { render, series, type Family } from "./prometheus.ts";

/** Counters of the node's weight source. A node that loads the whole model file fetches nothing. */
export interface WeightCounters {
  /** "file": the whole model is resident; "store": FFN neuron shards come from the weight store. */
  source: "file" | "store";
  bytesFetched: number;
  shardHits: number;
  shardMisses: number;
}

/** What one finished (or aborted) turn tells the metrics. */
export interface TurnMetrics {
  method: string;
  stopReason: string;
  promptTokens: number;
  /** Prompt tokens whose KV came from the node's cache (> 0: a KV cache hit). */
  cachedTokens: number;
  completionTokens: number;
  prefillMs: number;
  decodeMs: number;
  /** Re-masks this turn: dense re-traces after the drift detector fired (the pruner's stats().remasks). */
  remasks: number;
  /** Tokens the pruner ran this turn, and how many of them ran the FFN dense. */
  ffnTokens: number;
  ffnDenseTokens: number;
  /** Fraction of FFN neurons pruned by the masks in force at the end of the turn (null: no mask). */
  maskSparsity: number | null;
}

const sortedEntries = (m: Map<string, number>) => [...m].sort(([a], [b]) => a.localeCompare(b));

/** What a node holds and is: its role, FFN bytes (whole and held), process memory. */
export interface NodeGauges {
  role: "full" | "sparse";
  ffnBytes: number;
  residentFfnBytes: number;
  rssBytes: number;
}

export class NodeMetrics {
  private readonly node: string;
  private readonly c = new Map<string, number>();
  private last: { tps: number | null; sparsity: Map<string, number> } = { tps: null, sparsity: new Map() };

  constructor(node: string) {
    this.node = node;
  }

  private add(name: string, labels: Record<string, string>, v: number): void {
    const s = series(name, labels);
    this.c.set(s, (this.c.get(s) ?? 0) + v);
  }

  private get(name: string): [string, number][] {
    return sortedEntries(this.c).filter(([s]) => s === name || s.startsWith(name + "{"));
  }

  /** A trace served (a full node); `ok` false for one that failed. */
  recordTrace(ok: boolean): void {
    this.add("dart_node_trace_requests_total", { result: ok ? "ok" : "error" }, 1);
  }

  /** Bytes this node pushed to another for a split turn: a trace's handoff, or a decode's final state. */
  recordPush(kind: "handoff" | "state", bytes: number): void {
    this.add("dart_node_pushed_bytes_total", { kind }, bytes);
  }

  /** A handoff pushed here (received), used by its turn (taken), or asked for and gone (missing). */
  recordHandoff(result: "received" | "taken" | "missing"): void {
    this.add("dart_node_handoffs_total", { result }, 1);
  }

  record(t: TurnMetrics): void {
    // A request refused before any work (context too long, bad settings) is the client's error, not a turn.
    if (t.stopReason === "rejected") return this.add("dart_node_rejected_requests_total", {}, 1);
    this.add("dart_node_turns_total", { method: t.method, stop_reason: t.stopReason }, 1);
    this.add("dart_node_prompt_tokens_total", {}, t.promptTokens);
    this.add("dart_node_generated_tokens_total", {}, t.completionTokens);
    this.add("dart_node_prefill_seconds_total", {}, t.prefillMs / 1000);
    this.add("dart_node_decode_seconds_total", {}, t.decodeMs / 1000);
    this.add("dart_node_kv_cache_lookups_total", { result: t.cachedTokens > 0 ? "hit" : "miss" }, 1);
    this.add("dart_node_kv_cached_tokens_total", {}, t.cachedTokens);
    this.add("dart_node_remask_events_total", { method: t.method }, t.remasks);
    this.add("dart_node_ffn_tokens_total", { method: t.method, mode: "dense" }, t.ffnDenseTokens);
    this.add("dart_node_ffn_tokens_total", { method: t.method, mode: "sparse" }, t.ffnTokens - t.ffnDenseTokens);
    if (t.completionTokens > 0 && t.decodeMs > 0) this.last.tps = (t.completionTokens / t.decodeMs) * 1000;
    if (t.maskSparsity !== null) this.last.sparsity.set(t.method, t.maskSparsity);
  }

  render(extra: { weights: WeightCounters; kvEntries: number; kvBytes: number; kvBudgetBytes: number } & NodeGauges): string {
    const node = this.node;
    const zeroIfNone = (name: string, labels: Record<string, string>[]): [string, number][] => {
      const got = new Map(this.get(name));
      for (const l of labels) if (!got.has(series(name, l))) got.set(series(name, l), 0);
      return sortedEntries(got);
    };
    const families: Family[] = [
      { name: "dart_node_info", help: "Constant 1, labelled with the node's name, its role (full: whole model, traces; sparse: mask shards only) and where its weights come from.", type: "gauge", samples: [[series("dart_node_info", { node, role: extra.role, weight_source: extra.weights.source }), 1]] },
      { name: "dart_node_ffn_bytes", help: "Bytes of the model's whole FFN.", type: "gauge", samples: [["dart_node_ffn_bytes", extra.ffnBytes]] },
      { name: "dart_node_resident_ffn_bytes", help: "FFN bytes this node holds now: its resident neurons (one copy each, in the engine's FFN bundles).", type: "gauge", samples: [["dart_node_resident_ffn_bytes", extra.residentFfnBytes]] },
      { name: "dart_node_rss_bytes", help: "Resident memory of the node process.", type: "gauge", samples: [["dart_node_rss_bytes", extra.rssBytes]] },
      { name: "dart_node_trace_requests_total", help: "Trace requests served (full nodes), by result.", type: "counter", samples: zeroIfNone("dart_node_trace_requests_total", [{ result: "ok" }, { result: "error" }]) },
      { name: "dart_node_pushed_bytes_total", help: "Bytes pushed to other nodes for split turns: handoff (a trace's state, prior masks and KV, to the sparse node) and state (a decode's final state, to the full node's soft cache).", type: "counter", samples: zeroIfNone("dart_node_pushed_bytes_total", [{ kind: "handoff" }, { kind: "state" }]) },
      { name: "dart_node_handoffs_total", help: "Trace handoffs on this node: received (pushed by a full node), taken (used by their turn), missing (a turn named one this node no longer held: 409, traced again).", type: "counter", samples: zeroIfNone("dart_node_handoffs_total", [{ result: "received" }, { result: "taken" }, { result: "missing" }]) },
      { name: "dart_node_turns_total", help: "Turns run, by DART method and stop reason (eos, length, abort, error).", type: "counter", samples: this.get("dart_node_turns_total") },
      { name: "dart_node_rejected_requests_total", help: "Turn requests refused with a client error (4xx) before any work; not counted in dart_node_turns_total.", type: "counter", samples: zeroIfNone("dart_node_rejected_requests_total", [{}]) },
      { name: "dart_node_prompt_tokens_total", help: "Prompt tokens of turns (cached and computed).", type: "counter", samples: zeroIfNone("dart_node_prompt_tokens_total", [{}]) },
      { name: "dart_node_generated_tokens_total", help: "Tokens generated.", type: "counter", samples: zeroIfNone("dart_node_generated_tokens_total", [{}]) },
      { name: "dart_node_prefill_seconds_total", help: "Seconds spent on prompt prefill.", type: "counter", samples: zeroIfNone("dart_node_prefill_seconds_total", [{}]) },
      { name: "dart_node_decode_seconds_total", help: "Seconds spent decoding; rate(generated)/rate(decode seconds) is tokens per second.", type: "counter", samples: zeroIfNone("dart_node_decode_seconds_total", [{}]) },
      {
        name: "dart_node_decode_tokens_per_second",
        help: "Decode speed of the last turn that generated tokens.",
        type: "gauge",
        samples: this.last.tps === null ? [] : [["dart_node_decode_tokens_per_second", this.last.tps]],
      },
      { name: "dart_node_kv_cache_lookups_total", help: "Turns whose session KV cache was reused (hit: some prompt tokens cached) or not (miss).", type: "counter", samples: zeroIfNone("dart_node_kv_cache_lookups_total", [{ result: "hit" }, { result: "miss" }]) },
      { name: "dart_node_kv_cached_tokens_total", help: "Prompt tokens whose keys and values came from the KV cache.", type: "counter", samples: zeroIfNone("dart_node_kv_cached_tokens_total", [{}]) },
      { name: "dart_node_kv_cache_entries", help: "Sessions with a KV cache on this node.", type: "gauge", samples: [["dart_node_kv_cache_entries", extra.kvEntries]] },
      { name: "dart_node_kv_cache_bytes", help: "Bytes held by KV caches (budget: dart_node_kv_cache_budget_bytes).", type: "gauge", samples: [["dart_node_kv_cache_bytes", extra.kvBytes]] },
      { name: "dart_node_kv_cache_budget_bytes", help: "KV cache byte budget.", type: "gauge", samples: [["dart_node_kv_cache_budget_bytes", extra.kvBudgetBytes]] },
      { name: "dart_node_remask_events_total", help: "DART re-masks: dense re-traces after the drift detector fired (a new turn's re-trace is not counted).", type: "counter", samples: this.get("dart_node_remask_events_total") },
      { name: "dart_node_ffn_tokens_total", help: "Tokens through the FFN, dense (tracing, no mask) or sparse (compacted to kept neurons).", type: "counter", samples: this.get("dart_node_ffn_tokens_total") },
      {
        name: "dart_node_ffn_sparsity",
        help: "Fraction of FFN neurons pruned by the masks in force at the end of the last turn, by method.",
        type: "gauge",
        samples: sortedEntries(this.last.sparsity).map(([method, v]) => [series("dart_node_ffn_sparsity", { method }), v]),
      },
      { name: "dart_node_weight_bytes_fetched_total", help: "Bytes of FFN neuron shards fetched from the weight store (0 with weight_source=file).", type: "counter", samples: [["dart_node_weight_bytes_fetched_total", extra.weights.bytesFetched]] },
      {
        name: "dart_node_shard_cache_lookups_total",
        help: "Neuron shard cache lookups: hit (resident) or miss (fetched).",
        type: "counter",
        samples: [
          [series("dart_node_shard_cache_lookups_total", { result: "hit" }), extra.weights.shardHits],
          [series("dart_node_shard_cache_lookups_total", { result: "miss" }), extra.weights.shardMisses],
        ],
      },
    ];
    return render(families);
  }
}
