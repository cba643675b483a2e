// A small dependency-free SVG line chart: quality against effective sparsity, one line per method.

export interface Series {
  label: string;
  /** Drawn dashed (for ablations beside the main methods). */
  dashed?: boolean;
  points: { x: number; y: number }[];
}

export interface Panel {
  title: string;
  yLabel: string;
  logY?: boolean;
  series: Series[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function panelSvg(p: Panel, ox: number, oy: number, w: number, h: number, colorOf: (label: string) => string): string {
  const m = { l: 56, r: 12, t: 26, b: 40 };
  const pw = w - m.l - m.r, ph = h - m.t - m.b;
  const pts = p.series.flatMap((s) => s.points).filter((q) => Number.isFinite(q.y));
  const xMax = Math.max(0.75, ...pts.map((q) => q.x));
  const ty = (y: number) => (p.logY ? Math.log10(y) : y);
  let yMin = Math.min(...pts.map((q) => ty(q.y)));
  let yMax = Math.max(...pts.map((q) => ty(q.y)));
  if (yMin === yMax) [yMin, yMax] = [yMin - 1, yMax + 1];
  const X = (x: number) => ox + m.l + (x / xMax) * pw;
  const Y = (y: number) => oy + m.t + ph - ((ty(y) - yMin) / (yMax - yMin)) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + m.l + pw / 2}" y="${oy + 16}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`);
  out.push(`<rect x="${ox + m.l}" y="${oy + m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  for (let x = 0; x <= xMax + 1e-9; x += 0.1) {
    out.push(`<line x1="${X(x)}" y1="${oy + m.t + ph}" x2="${X(x)}" y2="${oy + m.t + ph + 4}" stroke="#999"/>`);
    out.push(`<text x="${X(x)}" y="${oy + m.t + ph + 16}" text-anchor="middle" font-size="10">${x.toFixed(1)}</text>`);
  }
  out.push(`<text x="${ox + m.l + pw / 2}" y="${oy + h - 6}" text-anchor="middle" font-size="11">effective sparsity</text>`);
  for (let i = 0; i <= 4; i++) {
    const v = yMin + ((yMax - yMin) * i) / 4;
    const label = p.logY ? (10 ** v).toPrecision(3) : v.toFixed(2);
    const y = oy + m.t + ph - (i / 4) * ph;
    out.push(`<line x1="${ox + m.l - 4}" y1="${y}" x2="${ox + m.l + pw}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${ox + m.l - 6}" y="${y + 3}" text-anchor="end" font-size="10">${label}</text>`);
  }
  out.push(`<text x="${ox + 14}" y="${oy + m.t + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 ${ox + 14} ${oy + m.t + ph / 2})">${esc(p.yLabel)}</text>`);
  for (const s of p.series) {
    const q = s.points.filter((pt) => Number.isFinite(pt.y)).sort((a, b) => a.x - b.x);
    if (!q.length) continue;
    const c = colorOf(s.label);
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="1.8"${s.dashed ? ' stroke-dasharray="5 3"' : ""} points="${q.map((pt) => `${X(pt.x).toFixed(1)},${Y(pt.y).toFixed(1)}`).join(" ")}"/>`);
    for (const pt of q) out.push(`<circle cx="${X(pt.x).toFixed(1)}" cy="${Y(pt.y).toFixed(1)}" r="2.5" fill="${c}"/>`);
  }
  return out.join("\n");
}

/** Panels in a grid of `columns`, with one shared legend. */
export function renderPanels(panels: Panel[], columns = 2, panelW = 420, panelH = 280): string {
  const labels = [...new Set(panels.flatMap((p) => p.series.map((s) => s.label)))];
  const colorOf = (l: string) => COLORS[labels.indexOf(l) % COLORS.length]!;
  const rows = Math.ceil(panels.length / columns);
  const W = columns * panelW;
  const perRow = Math.max(1, Math.floor(W / 210));
  const legendH = 8 + 18 * Math.ceil(labels.length / perRow);
  const H = rows * panelH + legendH;
  const dashed = new Set(panels.flatMap((p) => p.series.filter((s) => s.dashed).map((s) => s.label)));
  const parts = panels.map((p, i) => panelSvg(p, (i % columns) * panelW, legendH + Math.floor(i / columns) * panelH, panelW, panelH, colorOf));
  const legend = labels.map((l, i) => {
    const x = 10 + (i % perRow) * ((W - 20) / perRow);
    const y = 12 + 18 * Math.floor(i / perRow);
    const dash = dashed.has(l) ? ' stroke-dasharray="5 3"' : "";
    return `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${colorOf(l)}" stroke-width="2"${dash}/><text x="${x + 22}" y="${y + 4}" font-size="11">${esc(l)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n<rect width="100%" height="100%" fill="white"/>\n${legend.join("\n")}\n${parts.join("\n")}\n</svg>\n`;
}
