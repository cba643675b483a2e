// The playground page: one HTML document with its stylesheet and script inline, so the
// Worker serves everything itself. The CSP allows only those exact inline blocks (by hash)
// and requests to this origin: nothing can be loaded from a CDN.
import { BUDGETS, METHODS, type DartSettings } from "../../shared/dart/settings.ts";
import { APP_JS } from "./app-js.ts";
import { CHARTS_JS } from "./charts-js.ts";
import { FAVICON_DATA_URI } from "./favicon.ts";
import { PLAYGROUND_CSS } from "./styles.ts";

const SCRIPT = CHARTS_JS + APP_JS;

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function sha256Base64(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  let bin = "";
  for (const b of d) bin += String.fromCharCode(b);
  return btoa(bin);
}

let csp: Promise<string> | null = null;

/** Content-Security-Policy of the page: its own inline script and style, fetches to this origin. */
export function playgroundCsp(): Promise<string> {
  csp ??= Promise.all([sha256Base64(SCRIPT), sha256Base64(PLAYGROUND_CSS)]).then(
    ([s, c]) => `default-src 'none'; script-src 'sha256-${s}'; style-src 'sha256-${c}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
  );
  return csp;
}

export function playgroundHtml(modelId: string, defaults: DartSettings): string {
  const select = (values: readonly string[], chosen: string) => values.map((m) => `<option value="${m}"${m === chosen ? " selected" : ""}>${m}</option>`).join("");
  const stat = (id: string, label: string) => `<div><dt>${label}</dt><dd id="${id}">-</dd></div>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dart-edge playground</title>
<link rel="icon" type="image/svg+xml" href="${FAVICON_DATA_URI}">
<style>${PLAYGROUND_CSS}</style>
</head>
<body data-model="${escapeHtml(modelId)}" data-state="loading">
<header><h1>dart-edge playground</h1><span>model ${escapeHtml(modelId)} &middot; DART prunes FFN neurons per conversation; charts come from this session's own data</span></header>
<main>
<div>
  <section class="card">
    <h2>Settings</h2>
    <label>API key <input id="key" type="password" autocomplete="off" size="28" placeholder="sk-..."></label>
    <label>Max tokens <input id="maxTokens" type="number" min="1" max="512" value="64"></label><br>
    <label>Method <select id="method">${select(METHODS, defaults.method)}</select></label>
    <label>Budget <select id="budget">${select(BUDGETS, defaults.budget)}</select></label>
    <label>Sparsity <input id="sparsity" type="range" min="0" max="0.9" step="0.05" value="${defaults.sparsity}"> <span id="sparsityValue">${defaults.sparsity.toFixed(2)}</span></label>
    <button id="newSession" class="secondary" type="button">New session</button>
    <p class="note">Session: <code id="sessionId"></code></p>
    <p class="note" id="fixedNote" hidden>Method, budget and sparsity are fixed once a session starts; "New session" to change them.</p>
  </section>
  <section class="card">
    <h2>Chat</h2>
    <div id="log" aria-live="polite"></div>
    <div class="row"><textarea id="input" placeholder="Once upon a time"></textarea><button id="send" type="button">Send</button></div>
  </section>
</div>
<div>
  <section class="card">
    <h2>Session</h2>
    <dl class="stats">${stat("statMethod", "method")}${stat("statEff", "effective sparsity")}${stat("statRemasks", "re-masks")}${stat("statDense", "dense / all tokens")}${stat("statTurns", "turns")}${stat("statCached", "cached / prompt tokens")}</dl>
  </section>
  <section class="card">
    <h2>Drift: window cosine vs threshold</h2>
    <svg id="drift" class="chart" role="img" aria-label="drift chart"></svg>
  </section>
  <section class="card">
    <h2>Kept neurons per layer</h2>
    <svg id="layers" class="chart" role="img" aria-label="kept neurons per layer"></svg>
  </section>
  <section class="card">
    <h2>Bytes fetched per mask</h2>
    <svg id="bytes" class="chart" role="img" aria-label="bytes fetched per mask"></svg>
    <p class="note" id="bytesNote"></p>
  </section>
</div>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
