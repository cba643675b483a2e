// Where the gateway's counters live: METRICS_SHARDS MetricsObject Durable Objects.
import { renderGateway, sampleDeltas, sumInto, type RequestSample } from "../../shared/metrics/gateway-metrics.ts";
import type { Env } from "../../workers/env.ts";

function shards(env: Env): number {
  const n = Number(env.METRICS_SHARDS ?? 1);
  return Number.isInteger(n) && n >= 1 && n <= 64 ? n : 1;
}

const shard = (env: Env, i: number) => env.METRICS.get(env.METRICS.idFromName(`metrics-${i}`));

export async function recordSample(env: Env, s: RequestSample): Promise<void> {
  await shard(env, Math.floor(Math.random() * shards(env))).add(sampleDeltas(s));
}

export async function renderMetrics(env: Env): Promise<string> {
  const parts = await Promise.all(Array.from({ length: shards(env) }, (_, i) => shard(env, i).read()));
  const total = new Map<string, number>();
  for (const p of parts) sumInto(total, p.map((r): [string, number] => [r.series, r.value]));
  return renderGateway(total);
}
