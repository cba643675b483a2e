// Reads Prometheus text exposition into series -> value, checking every line's shape on the way.
export interface Scrape {
  values: Map<string, number>;
  types: Map<string, string>;
  get(series: string): number;
  /** Sum of every series of `name` whose labels include all of `labels`. */
  sum(name: string, labels?: Record<string, string>): number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$/;

function labelsOf(braced: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!braced) return out;
  for (const m of braced.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) out[m[1]!] = m[2]!;
  return out;
}

export function parsePrometheus(text: string): Scrape {
  const values = new Map<string, number>();
  const types = new Map<string, string>();
  const parsed: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const t = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (t) {
      types.set(t[1]!, t[2]!);
      continue;
    }
    if (line.startsWith("# HELP ")) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const value = m[3] === "+Inf" ? Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== "NaN") throw new Error(`bad value in ${line}`);
    values.set(m[1]! + (m[2] ?? ""), value);
    parsed.push({ name: m[1]!, labels: labelsOf(m[2]), value });
  }
  return {
    values,
    types,
    get: (s) => values.get(s) ?? 0,
    sum: (name, labels = {}) =>
      parsed.filter((p) => p.name === name && Object.entries(labels).every(([k, v]) => p.labels[k] === v)).reduce((a, p) => a + p.value, 0),
  };
}

/** Buckets of a histogram (by labels without le), in bound order, with _count and _sum. */
export function histogram(s: Scrape, name: string, labels: Record<string, string>) {
  const buckets: { le: number; count: number }[] = [];
  for (const [series, v] of s.values) {
    if (!series.startsWith(`${name}_bucket{`)) continue;
    const l = labelsOf(series.slice(series.indexOf("{")));
    if (!Object.entries(labels).every(([k, val]) => l[k] === val)) continue;
    buckets.push({ le: l.le === "+Inf" ? Infinity : Number(l.le), count: v });
  }
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, count: s.sum(`${name}_count`, labels), sum: s.sum(`${name}_sum`, labels) };
}
