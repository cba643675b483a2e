// Node to node, for split turns (docs/session-state.md, "Split turns"): the full node pushes
// its trace's bulk (state, prior masks, KV entries, last logits) to the sparse node the Session
// object chose, and the sparse node pushes the state its decode ended with back to the full
// node's soft cache. Both under the node token, to URLs only the Session object names. A push
// that fails costs bytes, never correctness: the trace answers inline instead, and a missing
// soft-cache entry is a 409 the Session object answers by resending the state.
import type { NodeHandoff, NodeStatePush, NodeTraceRequest, NodeTraceResult } from "../../shared/serving/protocol.ts";

const PUSH_TIMEOUT_MS = 10_000;

/** POSTs `body` as JSON to `base + path`; the bytes sent, or throws (unreachable, refused, timed out). */
async function pushJson(base: string, path: string, body: unknown, token: string): Promise<number> {
  const url = new URL(path, base.replace(/\/*$/, "/"));
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error(`not an http(s) URL: ${base}`);
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method: "POST", headers, body: text, signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`${url.origin}${url.pathname} answered HTTP ${res.status}`);
  return Buffer.byteLength(text);
}

/**
 * The trace's answer for the Session object: with `handoffTo`, its state, prior and KV go to
 * that node and the answer keeps the masks summary, events and versions only. When the push
 * fails the whole result goes back, as without a handoff target.
 */
export async function handOff(result: NodeTraceResult, req: NodeTraceRequest, token: string): Promise<NodeTraceResult> {
  if (!req.handoffTo) return result;
  const h: NodeHandoff = { sessionKey: req.sessionKey, id: req.handoffTo.id, state: result.state, prior: result.prior, kv: result.kv };
  try {
    const bytes = await pushJson(req.handoffTo.url, "v1/handoff", h, token);
    return { ...result, state: "", prior: null, kv: null, handoff: { id: h.id, bytes } };
  } catch (e) {
    process.stderr.write(`handoff to ${req.handoffTo.url} failed (answering inline): ${(e as Error).message}\n`);
    return result;
  }
}

/** Pushes a decode's final state to the tracing full node's soft cache; the bytes sent, 0 when it failed. */
export async function pushState(fullNode: string, push: NodeStatePush, token: string): Promise<number> {
  try {
    return await pushJson(fullNode, "v1/states", push, token);
  } catch (e) {
    process.stderr.write(`state push to ${fullNode} failed (its next trace will ask for the state): ${(e as Error).message}\n`);
    return 0;
  }
}
