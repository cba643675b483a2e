// Browser code of the playground: chat in a session over the real API (streamed SSE, with the
// turn's DART events as they happen: stream_options.include_dart_events), then redraw the
// charts from GET /v1/sessions/:id. The API key stays in this tab (sessionStorage).
// Plain JavaScript in a string (the Worker serves it inline); no template literals inside.
export const APP_JS = String.raw`
const $ = (id) => document.getElementById(id);
const MODEL = document.body.dataset.model;
const state = { sessionId: sessionStorage.getItem("dart.session"), busy: false, events: [], masks: [], turns: 0 };

function authHeaders() {
  return { authorization: "Bearer " + $("key").value.trim(), "content-type": "application/json" };
}

// A reply continues the story, so it often opens with the space or line break that separates
// it from the message before; the bubble shows it from its first visible character.
function shown(text) {
  return text.replace(/^\s+/, "");
}

// Why a reply has no text. The playground sends no stop sequences, so a reply that ended
// ("stop") before its first token means the model sampled its end-of-text token first: it
// took the story as finished (stories260K ends a story after a closing sentence, ~2% of turns).
function emptyReason(tokens) {
  return tokens === 0
    ? "(no reply: the model's first token was its end-of-text token, so it took the story as finished. Give it something to continue, such as a sentence without its final period.)"
    : "(only blank space, then the model's end-of-text token: it took the story as finished.)";
}

function showReply(bubble, text, tokens) {
  const t = shown(text);
  const span = bubble.querySelector(".text");
  span.textContent = t || (tokens === null ? "" : emptyReason(tokens));
  span.classList.toggle("empty", !t && tokens !== null);
}

function addMsg(role, text, meta) {
  const d = document.createElement("div");
  d.className = "msg " + role;
  const t = document.createElement("span");
  t.className = "text";
  t.textContent = text;
  d.appendChild(t);
  if (meta) setMeta(d, meta);
  $("log").appendChild(d);
  $("log").scrollTop = $("log").scrollHeight;
  return d;
}

function setMeta(bubble, meta) {
  let m = bubble.querySelector(".meta");
  if (!m) {
    m = document.createElement("span");
    m.className = "meta";
    bubble.appendChild(m);
  }
  m.textContent = meta;
}

function setSession(id) {
  state.sessionId = id;
  if (id) sessionStorage.setItem("dart.session", id);
  else sessionStorage.removeItem("dart.session");
  $("sessionId").textContent = id || "(new session on the next message)";
  $("method").disabled = !!id;
  $("budget").disabled = !!id;
  $("sparsity").disabled = !!id;
  $("fixedNote").hidden = !id;
}

function pct(v) {
  return typeof v === "number" ? (v * 100).toFixed(1) + "%" : "-";
}

function showView(v) {
  const d = v.dart || {};
  const st = d.stats || {};
  const events = d.events || [];
  const masks = d.masks || [];
  state.events = events.slice();
  state.masks = masks;
  state.turns = v.turns || 0;
  $("statMethod").textContent = d.settings ? d.settings.method + " @ " + d.settings.sparsity + " (" + d.settings.budget + ")" : "-";
  $("statEff").textContent = pct(st.effectiveSparsity);
  $("statRemasks").textContent = st.remasks ?? "-";
  $("statDense").textContent = st.tokens !== undefined ? st.denseTokens + " / " + st.tokens : "-";
  $("statTurns").textContent = v.turns;
  $("statCached").textContent = v.usage ? v.usage.cached_tokens + " / " + v.usage.prompt_tokens : "-";
  drawCharts(events, masks);
}

function drawCharts(events, masks) {
  drawDrift($("drift"), events);
  drawLayers($("layers"), masks);
  drawBytes($("bytes"), events);
  const built = events.filter((e) => e.kind === "mask" && !e.remask);
  // The latest split turn says which full node traced it and which sparse node decoded it.
  const split = built.filter((e) => e.tracedBy).pop();
  $("bytesNote").textContent = [split ? "Turn " + split.turn + ": " + splitNodes(split) + "." : "", bytesNote(built)].filter(Boolean).join(" ");
}

// What a 0 B bar means depends on the node that built the mask (builtOn): one that read the
// model file holds every weight; one on the weight store had the kept shards resident already.
function bytesNote(built) {
  const zero = built.filter((e) => !(e.bytesFetched > 0));
  if (zero.length === 0) return "";
  const nodes = (weights) => Array.from(new Set(zero.filter((e) => e.builtOn && e.builtOn.weights === weights).map((e) => e.builtOn.node + " (" + e.builtOn.role + " node)")));
  const file = nodes("file"), store = nodes("store");
  const parts = [];
  if (file.length) parts.push(file.join(", ") + (file.length > 1 ? " read" : " reads") + " the whole model from its file into memory (no weight store in its path), so its masks fetch nothing");
  if (store.length) parts.push(store.join(", ") + (store.length > 1 ? " load" : " loads") + " from the weight store, and every shard those masks keep was already resident (fetched for an earlier mask, or at load)");
  if (zero.some((e) => !e.builtOn)) parts.push("nothing was fetched for the others");
  return "0 B: " + parts.join("; ") + ".";
}

async function refresh() {
  if (!state.sessionId) return;
  const res = await fetch("/v1/sessions/" + encodeURIComponent(state.sessionId), { headers: authHeaders() });
  if (res.status === 404) return setSession(null);
  if (!res.ok) throw new Error("GET session: HTTP " + res.status);
  const v = await res.json();
  showView(v);
  return v;
}

function resetView() {
  $("log").textContent = "";
  showView({ turns: 0, dart: { events: [], masks: [] } });
}

async function readSse(res, onChunk) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const r = await reader.read();
    if (r.done) return;
    buf += dec.decode(r.value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of frame.split("\n")) {
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        onChunk(JSON.parse(line.slice(6)));
      }
    }
  }
}

async function send() {
  const content = $("input").value.trim();
  if (!content || state.busy) return;
  if (!$("key").value.trim()) {
    addMsg("error", "Enter an API key first (dart serve prints one).");
    return;
  }
  sessionStorage.setItem("dart.key", $("key").value.trim());
  state.busy = true;
  $("send").disabled = true;
  document.body.dataset.state = "streaming";
  addMsg("user", content);
  $("input").value = "";
  const bubble = addMsg("assistant", "");
  const body = {
    model: MODEL,
    messages: [{ role: "user", content: content }],
    stream: true,
    stream_options: { include_usage: true, include_dart_events: true },
    max_tokens: Number($("maxTokens").value) || 64,
  };
  if (state.sessionId) body.session_id = state.sessionId;
  else body.dart = { method: $("method").value, budget: $("budget").value, sparsity: Number($("sparsity").value) };
  const t0 = performance.now();
  let ttft = null;
  try {
    const res = await fetch("/v1/chat/completions", { method: "POST", headers: authHeaders(), body: JSON.stringify(body) });
    if (!res.ok) {
      const err = await res.json().catch(() => null);
      throw new Error((err && err.error && err.error.message) || "HTTP " + res.status);
    }
    setSession(res.headers.get("x-session-id"));
    let text = "";
    let last = null;
    let finish = null;
    await readSse(res, (c) => {
      if (c.error) throw new Error(c.error.message);
      const delta = c.choices && c.choices[0] ? c.choices[0].delta : null;
      if (delta && delta.content) {
        if (ttft === null) ttft = performance.now() - t0;
        text += delta.content;
        showReply(bubble, text, null);
        $("log").scrollTop = $("log").scrollHeight;
      }
      if (c.choices && c.choices[0] && c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
      if (c.usage) last = c;
      if (c.dart_event) {
        // Live: the event joins the session's stored ones; the view after the turn replaces them.
        const e = Object.assign({ turn: state.turns + 1 }, c.dart_event);
        if (e.masks) state.masks = e.masks;
        delete e.masks;
        state.events.push(e);
        drawCharts(state.events, state.masks);
      }
    });
    if (last) {
      const u = last.usage, d = last.dart || {};
      showReply(bubble, text, u.completion_tokens);
      setMeta(bubble, u.completion_tokens + " tokens (" + (finish || "?") + ")" + (ttft === null ? "" : ", first after " + Math.round(ttft) + " ms") + ", " + u.tokens_cached + " prompt tokens cached; effective sparsity " + pct(d.effective_sparsity) + ", re-masks " + d.remasks);
    }
    await refresh();
  } catch (e) {
    addMsg("error", String(e.message || e));
  } finally {
    state.busy = false;
    $("send").disabled = false;
    document.body.dataset.state = "idle";
  }
}

$("sparsity").addEventListener("input", () => ($("sparsityValue").textContent = Number($("sparsity").value).toFixed(2)));
$("send").addEventListener("click", send);
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    send();
  }
});
$("newSession").addEventListener("click", () => {
  setSession(null);
  resetView();
});

$("key").value = sessionStorage.getItem("dart.key") || "";
setSession(state.sessionId);
resetView();
if (state.sessionId && $("key").value) {
  refresh().then((v) => {
    if (v) for (const m of v.messages) {
      if (m.role === "user") addMsg("user", m.content);
      else showReply(addMsg("assistant", ""), m.content, m.tokens);
    }
  }).catch((e) => addMsg("error", String(e.message || e)));
}
document.body.dataset.state = "idle";
`;
