// Browser code of the playground's charts: hand-written SVG, drawn from a session's real
// DART data (GET /v1/sessions/:id). Each chart sets data-points to what it plotted.
// Plain JavaScript in a string (the Worker serves it inline); no template literals inside.
export const CHARTS_JS = String.raw`
const SVG_NS = "http://www.w3.org/2000/svg";

function el(name, attrs, parent, content) {
  const e = document.createElementNS(SVG_NS, name);
  for (const k in attrs) e.setAttribute(k, String(attrs[k]));
  if (content !== undefined) e.textContent = content;
  if (parent) parent.appendChild(e);
  return e;
}

function frame(svg, w, h) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
}

function empty(svg, w, h, message) {
  el("text", { x: w / 2, y: h / 2, "text-anchor": "middle", class: "empty" }, svg, message);
}

function fmtBytes(b) {
  if (b >= 1048576) return (b / 1048576).toFixed(1) + " MiB";
  if (b >= 1024) return (b / 1024).toFixed(1) + " KiB";
  return b + " B";
}

// Linear scale [d0, d1] -> [r0, r1].
function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

// Ticks at round values: multiples of 1, 2, 2.5 or 5 times a power of ten, about count of them
// over [lo, hi] (the first at or below lo, the last at or above hi, so the data stays inside).
function niceStep(span, count, min) {
  const raw = Math.max(span / count, min || 0, 1e-9);
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw - 1e-12 && !(min >= 1 && !Number.isInteger(m * p))) return m * p;
  return 10 * p;
}

function niceTicks(lo, hi, count, min) {
  const step = niceStep(hi - lo || 1, count, min);
  const first = Math.floor(lo / step + 1e-9), last = Math.ceil(hi / step - 1e-9);
  const out = [];
  for (let i = first; i <= Math.max(last, first + 1); i++) out.push(Number((i * step).toFixed(10)));
  return { step, ticks: out };
}

// Decimals that show every multiple of step exactly (0.25 -> 2, 0.1 -> 1, 5 -> 0).
function decimals(step) {
  const s = String(Number(step.toFixed(10)));
  return s.includes(".") ? s.split(".")[1].length : 0;
}

// Rough width of a 10px label (the charts' text size) in viewBox units.
function labelWidth(text) {
  return text.length * 6;
}

function yAxis(svg, y, ticks, x0, x1, fmt) {
  for (const t of ticks) {
    el("line", { x1: x0, x2: x1, y1: y(t), y2: y(t), class: "grid" }, svg);
    el("text", { x: x0 - 4, y: y(t) + 3, "text-anchor": "end" }, svg, fmt(t));
  }
  el("line", { x1: x0, x2: x0, y1: y(ticks[0]), y2: y(ticks[ticks.length - 1]), class: "axis" }, svg);
}

// Drift: window cosine to the baseline against the threshold, with re-mask and turn markers.
// The legend and the turn labels sit in rows above the plot, so no label covers the data; a
// turn label that would run past the right edge ends at its line, one too close to the
// previous is left out (the line stays; its tooltip names the turn).
function drawDrift(svg, events) {
  const W = 560, H = 252, L = 44, R = 12, T = 38, B = 42;
  frame(svg, W, H);
  const windows = events.filter((e) => e.kind === "window" && typeof e.cosine === "number");
  const remasks = events.filter((e) => e.kind === "mask" && e.remask);
  const built = events.filter((e) => e.kind === "mask" && !e.remask);
  const turns = events.filter((e) => e.kind === "turn");
  svg.dataset.points = String(windows.length);
  svg.dataset.remasks = String(remasks.length);
  svg.dataset.events = String(events.length);
  if (events.length === 0) return empty(svg, W, H, "no DART events yet: send a message");
  const pos = events.map((e) => e.pos);
  const x0 = Math.min.apply(null, pos), x1 = Math.max.apply(null, pos) + 1;
  const x = scale(x0, x1, L, W - R);
  for (const t of niceTicks(x0, x1, 5, 1).ticks.filter((t) => t >= x0 && t <= x1)) {
    el("line", { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 3, class: "axis" }, svg);
    el("text", { x: x(t), y: H - B + 20, "text-anchor": "middle" }, svg, String(t));
  }
  const vals = windows.flatMap((e) => [e.cosine, e.threshold]).filter((v) => typeof v === "number");
  const lo = Math.max(-1, vals.length ? Math.min.apply(null, vals) : 0);
  const ys = niceTicks(Math.min(lo, 0.9), 1, 4);
  const y = scale(ys.ticks[0], ys.ticks[ys.ticks.length - 1], H - B, T);
  yAxis(svg, y, ys.ticks, L, W - R, (t) => t.toFixed(decimals(ys.step)));
  el("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }, svg);
  el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, svg, "token position");
  let labelEnd = -Infinity;
  for (const t of turns) {
    const tx = x(t.pos);
    el("line", { x1: tx, x2: tx, y1: T, y2: H - B, class: "turn" }, svg).appendChild(el("title", {}, null, "turn " + t.turn + " starts at position " + t.pos));
    const label = "turn " + t.turn;
    const w = labelWidth(label);
    const right = tx + 3 + w <= W - R;
    const from = right ? tx + 3 : tx - 3 - w;
    if (from < labelEnd + 6 || from < L) continue;
    el("text", { x: right ? tx + 3 : tx - 3, y: T - 6, "text-anchor": right ? "start" : "end", class: "turnLabel" }, svg, label);
    labelEnd = from + w;
  }
  for (const r of remasks) el("line", { x1: x(r.pos), x2: x(r.pos), y1: T, y2: H - B, class: "remask" }, svg).appendChild(el("title", {}, null, "re-mask at position " + r.pos));
  for (const b of built) el("path", { d: "M" + x(b.pos) + " " + (H - B) + " l-4 7 h8 z", class: "built" }, svg).appendChild(el("title", {}, null, "masks built at " + b.pos));
  if (windows.length > 0) {
    const thr = windows.filter((e) => typeof e.threshold === "number");
    el("polyline", { points: thr.map((e) => x(e.pos) + "," + y(e.threshold)).join(" "), class: "thr" }, svg);
    el("polyline", { points: windows.map((e) => x(e.pos) + "," + y(e.cosine)).join(" "), class: "cos" }, svg);
    for (const w of windows) {
      const c = el("circle", { cx: x(w.pos), cy: y(w.cosine), r: 3, class: w.remask ? "fired" : "calm" }, svg);
      el("title", {}, c, "pos " + w.pos + ": cosine " + w.cosine.toFixed(3) + " (threshold " + (w.threshold ?? NaN).toFixed(3) + ")" + (w.remask ? ", fired" : ""));
    }
  } else {
    el("text", { x: (L + W - R) / 2, y: (T + H - B) / 2, "text-anchor": "middle", class: "empty" }, svg, "no drift windows yet (checked every 5 generated tokens after masking)");
  }
  const lg = el("g", { transform: "translate(" + (L + 8) + ",10)" }, svg);
  el("line", { x1: 0, x2: 18, y1: 0, y2: 0, class: "cos" }, lg);
  el("text", { x: 22, y: 3 }, lg, "window cosine");
  el("line", { x1: 100, x2: 118, y1: 0, y2: 0, class: "thr" }, lg);
  el("text", { x: 122, y: 3 }, lg, "threshold");
  el("line", { x1: 185, x2: 185, y1: -5, y2: 5, class: "remask" }, lg);
  el("text", { x: 190, y: 3 }, lg, "re-mask");
  el("path", { d: "M245 5 l-4 7 h8 z", class: "built", transform: "translate(0,-9)" }, lg);
  el("text", { x: 252, y: 3 }, lg, "masks built");
  el("line", { x1: 330, x2: 330, y1: -5, y2: 5, class: "turn" }, lg);
  el("text", { x: 335, y: 3 }, lg, "turn starts");
}

// Kept-neuron fraction of each layer's FFN under the masks in force.
function drawLayers(svg, masks) {
  const W = 560, H = 190, L = 44, R = 12, T = 14, B = 30;
  frame(svg, W, H);
  svg.dataset.points = String(masks.length);
  if (masks.length === 0) return empty(svg, W, H, "no masks yet");
  const y = scale(0, 1, H - B, T);
  yAxis(svg, y, [0, 0.25, 0.5, 0.75, 1], L, W - R, (t) => Math.round(t * 100) + "%");
  const slot = (W - R - L) / masks.length;
  masks.forEach((m, i) => {
    const f = m.total > 0 ? m.kept / m.total : 0;
    const bx = L + i * slot + slot * 0.15;
    const r = el("rect", { x: bx, y: y(f), width: slot * 0.7, height: H - B - y(f), class: "bar" }, svg);
    el("title", {}, r, "layer " + m.layer + ": " + m.kept + " of " + m.total + " neurons kept");
    el("text", { x: bx + slot * 0.35, y: y(f) - 3, "text-anchor": "middle", class: "label" }, svg, Math.round(f * 100) + "%");
    el("text", { x: bx + slot * 0.35, y: H - B + 12, "text-anchor": "middle" }, svg, "L" + m.layer);
  });
  el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, svg, "layer (bar: kept / total FFN neurons)");
}

// A split turn's nodes: which full node traced the masks and which sparse node decoded (fetched) them.
function splitNodes(e) {
  return e.tracedBy ? "traced on " + e.tracedBy + ", decoded on " + e.decodedBy : "";
}

// Bytes the node fetched from the weight store each time masks were built. Value and position
// labels are drawn only where they fit beside their neighbours (every bar keeps its tooltip).
function drawBytes(svg, events) {
  const W = 560, H = 170, L = 60, R = 12, T = 14, B = 30;
  frame(svg, W, H);
  const built = events.filter((e) => e.kind === "mask" && !e.remask);
  svg.dataset.points = String(built.length);
  if (built.length === 0) return empty(svg, W, H, "no masks built yet");
  const bytes = built.map((e) => e.bytesFetched ?? 0);
  const max = Math.max.apply(null, bytes);
  const unit = max >= 1048576 ? 1048576 : max >= 1024 ? 1024 : 1;
  const ys = niceTicks(0, Math.max(max / unit, 1), 3, unit === 1 ? 1 : 0);
  const top = ys.ticks[ys.ticks.length - 1] * unit;
  const y = scale(0, top, H - B, T);
  const unitName = unit === 1048576 ? " MiB" : unit === 1024 ? " KiB" : " B";
  yAxis(svg, y, ys.ticks.map((t) => t * unit), L, W - R, (t) => (t / unit).toFixed(decimals(ys.step)) + unitName);
  const slot = Math.min(60, (W - R - L) / built.length);
  const every = (w) => Math.max(1, Math.ceil((w + 6) / slot));
  const valueEvery = every(labelWidth("999.9 KiB")), posEvery = every(labelWidth("@" + built[built.length - 1].pos));
  built.forEach((e, i) => {
    const bx = L + i * slot + slot * 0.15;
    const b = bytes[i];
    const r = el("rect", { x: bx, y: y(b), width: slot * 0.7, height: Math.max(1, H - B - y(b)), class: "bar bytes" }, svg);
    const on = e.builtOn ? " on " + e.builtOn.node + " (" + e.builtOn.role + " node, " + (e.builtOn.weights === "store" ? "weight store" : "model file") + ")" : "";
    const split = e.tracedBy ? " (" + splitNodes(e) + ")" : "";
    el("title", {}, r, "masks built at position " + e.pos + " (turn " + e.turn + ")" + on + ": " + fmtBytes(b) + " fetched" + split);
    if (i % valueEvery === 0) el("text", { x: bx + slot * 0.35, y: y(b) - 3, "text-anchor": "middle", class: "label" }, svg, fmtBytes(b));
    if (i % posEvery === 0) el("text", { x: bx + slot * 0.35, y: H - B + 12, "text-anchor": "middle" }, svg, "@" + e.pos);
  });
  el("text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle" }, svg, "each time masks were built (token position)");
}
`;
