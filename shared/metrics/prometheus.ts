// Prometheus text exposition format (version 0.0.4): series names, label escaping,
// histogram series, and rendering of families with their HELP and TYPE lines.

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Record<string, string>;

export interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  /** [series, value]: series is `name` or `name{labels}` (histograms: `name_bucket{...}` etc.). */
  samples: [string, number][];
}

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');

/** `name{a="x",b="y"}` with labels sorted by name, so equal label sets give the same string. */
export function series(name: string, labels: Labels = {}): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  return `${name}{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(",")}}`;
}

/** Name of a series (`a_total{x="1"}` -> `a_total`). */
export const seriesName = (s: string) => s.replace(/\{.*$/s, "");

export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** Upper bound label of a bucket, as Prometheus clients write it. */
export const leLabel = (bound: number) => (bound === Infinity ? "+Inf" : String(bound));

/**
 * Deltas one observation adds to a histogram: every bucket whose bound is >= value (so
 * buckets are cumulative by construction), +Inf, _sum and _count.
 */
export function observeDeltas(name: string, labels: Labels, bounds: readonly number[], value: number): [string, number][] {
  const out: [string, number][] = [];
  for (const b of [...bounds, Infinity]) if (value <= b) out.push([series(`${name}_bucket`, { ...labels, le: leLabel(b) }), 1]);
  out.push([series(`${name}_sum`, labels), value], [series(`${name}_count`, labels), 1]);
  return out;
}

/** Every bucket, _sum and _count of one labelled histogram, zeros filled in from `values`. */
export function histogramSamples(name: string, labels: Labels, bounds: readonly number[], values: Map<string, number>): [string, number][] {
  const out: [string, number][] = [];
  for (const b of [...bounds, Infinity]) {
    const s = series(`${name}_bucket`, { ...labels, le: leLabel(b) });
    out.push([s, values.get(s) ?? 0]);
  }
  for (const suffix of ["_sum", "_count"]) {
    const s = series(name + suffix, labels);
    out.push([s, values.get(s) ?? 0]);
  }
  return out;
}

export function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`, `# TYPE ${f.name} ${f.type}`);
    for (const [s, v] of f.samples) lines.push(`${s} ${formatValue(v)}`);
  }
  return lines.join("\n") + "\n";
}
