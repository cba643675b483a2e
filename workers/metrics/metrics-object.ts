// Gateway counters that outlive isolates: a Worker isolate's memory is neither shared
// with other isolates nor durable, so each request's deltas go (after the response, via
// waitUntil) to one of METRICS_SHARDS of these objects, which add them up in SQLite.
// GET /metrics reads every shard and sums. More shards spread a high request rate.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";

export interface CounterRow {
  series: string;
  value: number;
}

export class MetricsObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS counters (series TEXT PRIMARY KEY, value REAL NOT NULL)");
  }

  add(deltas: [string, number][]): void {
    const sql = this.ctx.storage.sql;
    this.ctx.storage.transactionSync(() => {
      for (const [s, v] of deltas) {
        sql.exec("INSERT INTO counters (series, value) VALUES (?, ?) ON CONFLICT (series) DO UPDATE SET value = value + excluded.value", s, v);
      }
    });
  }

  read(): CounterRow[] {
    return this.ctx.storage.sql.exec<{ series: string; value: number }>("SELECT series, value FROM counters").toArray();
  }
}
