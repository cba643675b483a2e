// The playground's stylesheet (inlined into the page; nothing is loaded from elsewhere).
export const PLAYGROUND_CSS = String.raw`
:root { --fg: #1d2430; --muted: #667085; --line: #d8dde6; --bg: #f6f7f9; --card: #fff; --accent: #2563eb; --warn: #d97706; --bad: #dc2626; --ok: #059669; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 12px; padding: 10px 18px; background: #111827; color: #f9fafb; }
header h1 { font-size: 17px; margin: 0; }
header span { color: #9ca3af; font-size: 13px; }
main { display: grid; grid-template-columns: minmax(340px, 1fr) minmax(420px, 1.25fr); gap: 14px; padding: 14px 18px; }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; margin-bottom: 14px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 8px; }
label { display: inline-flex; align-items: center; gap: 6px; margin: 0 12px 6px 0; }
input, select, textarea, button { font: inherit; }
input[type=password], input[type=number], select, textarea { border: 1px solid var(--line); border-radius: 6px; padding: 5px 7px; background: #fff; }
#maxTokens { width: 5em; }
textarea { width: 100%; resize: vertical; min-height: 54px; }
button { border: 0; border-radius: 6px; padding: 6px 14px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #e5e7eb; color: var(--fg); }
button:disabled { opacity: .5; cursor: default; }
.row { display: flex; gap: 8px; align-items: flex-end; margin-top: 8px; }
.row textarea { flex: 1; }
#log { height: 340px; overflow-y: auto; display: flex; flex-direction: column; gap: 8px; padding: 4px 2px; }
.msg { padding: 7px 10px; border-radius: 8px; white-space: pre-wrap; max-width: 92%; }
.msg.user { align-self: flex-end; background: #dbeafe; }
.msg.assistant { align-self: flex-start; background: #f3f4f6; border: 1px solid var(--line); }
.msg.error { align-self: stretch; background: #fee2e2; color: #7f1d1d; }
.msg .text.empty { font-style: italic; color: var(--muted); }
.msg .meta { display: block; font-size: 11px; color: var(--muted); margin-top: 3px; }
dl.stats { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px 12px; margin: 0; }
dl.stats div { background: var(--bg); border-radius: 6px; padding: 5px 8px; }
dt { font-size: 11px; color: var(--muted); }
dd { margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.note { color: var(--muted); font-size: 12px; margin: 6px 0 0; }
svg.chart { width: 100%; height: auto; display: block; }
svg .axis { stroke: #9ca3af; stroke-width: 1; }
svg .grid { stroke: #eef0f3; stroke-width: 1; }
svg text { font: 10px system-ui, sans-serif; fill: var(--muted); }
svg .cos { fill: none; stroke: var(--accent); stroke-width: 2; }
svg .thr { fill: none; stroke: var(--warn); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg .fired { fill: var(--bad); }
svg .calm { fill: var(--accent); }
svg .remask { stroke: var(--bad); stroke-width: 1.5; }
svg .turn { stroke: #9ca3af; stroke-width: 1; stroke-dasharray: 2 3; }
svg .built { fill: var(--ok); }
svg .bar { fill: #60a5fa; }
svg .bar.bytes { fill: #a78bfa; }
svg text.label { fill: var(--fg); }
svg text.empty { font-size: 12px; }
svg text.turnLabel { fill: var(--fg); }
`;
