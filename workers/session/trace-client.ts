// Asks a full node to trace a turn (POST /v1/trace): the session's preferred full node by
// rendezvous hashing, then the next ones when one cannot be reached, is not a full node,
// fails (5xx), times out, is busy (429) or answers something that is not a trace. A 4xx about
// the request itself (say, the context does not fit) goes back to the client as is, and so does
// 429 nodes_busy when every full node is busy. A request that names
// the state by version only is sent again with the state to a node that answers 409
// `state_not_cached` (restart, eviction, a push that failed).
import type { NodeTraceRequest, NodeTraceResult } from "../../shared/serving/protocol.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";
import { ApiError } from "../../shared/serving/api-error.ts";
import { nodeErrorResponse } from "./node-events.ts";
import { isConflict } from "./state-transfer.ts";

export type TraceOutcome =
  | { kind: "traced"; result: NodeTraceResult; skipped: { node: string; reason: string }[]; url: string; stateSent: boolean }
  /** No full node could trace: the turn continues without a trace (reasons per node). */
  | { kind: "untraced"; skipped: { node: string; reason: string }[] }
  /** The request itself is wrong (a 4xx error object from the node), or every full node is busy (429). */
  | { kind: "refused"; response: Response };

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isInt = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;

/** Enough of a trace's shape to store and forward it safely. */
function isTrace(x: unknown, segments: number): x is NodeTraceResult {
  if (!isObj(x) || x.type !== "trace" || typeof x.node !== "string" || typeof x.state !== "string") return false;
  if (!Array.isArray(x.segmentIds) || x.segmentIds.length !== segments || !x.segmentIds.every((s) => Array.isArray(s) && s.every(isInt))) return false;
  if (!isInt(x.droppedEntries) || !isInt(x.promptTokens) || !Array.isArray(x.events) || !Array.isArray(x.masks) || !isObj(x.stats)) return false;
  return (x.prior === null || isObj(x.prior)) && (x.kv === null || isObj(x.kv));
}

/**
 * `count`: bytes sent to and read from the nodes tried (the session's transfer log).
 * `fullState`: the request with the state itself, for a node that lacks `req`'s version.
 */
export async function traceTurn(nodes: string[], req: NodeTraceRequest, token: string | undefined, timeoutMs: number, count?: { sentBytes: number; receivedBytes: number }, fullState?: () => NodeTraceRequest): Promise<TraceOutcome> {
  const skipped: { node: string; reason: string }[] = [];
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  let busyRetryAfter = Infinity; // the soonest retry a busy node (429) suggested
  const post = (node: string, r: NodeTraceRequest, signal: AbortSignal) => {
    const body = JSON.stringify(r);
    if (count) count.sentBytes += new TextEncoder().encode(body).byteLength;
    return fetch(`${node}/v1/trace`, { method: "POST", headers, body, signal });
  };
  for (const node of rankNodes(nodes, req.sessionKey)) {
    // The whole answer (one JSON body) must arrive within the timeout: a trace is a prefill, not a stream.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no trace within ${timeoutMs} ms`)), timeoutMs);
    try {
      let res = await post(node, req, abort.signal);
      let stateSent = req.prunerState !== "";
      if (res.status === 409 && fullState) {
        if (!(await isConflict(res, "state_not_cached")).miss) {
          skipped.push({ node, reason: "HTTP 409" }); // not a full node, say
          continue;
        }
        const again = fullState();
        stateSent = again.prunerState !== "";
        res = await post(node, again, abort.signal);
      }
      if (res.status === 400 || res.status === 413) return { kind: "refused", response: await nodeErrorResponse(res) };
      if (res.status === 429) {
        busyRetryAfter = Math.min(busyRetryAfter, Number(res.headers.get("retry-after")) || 1);
        skipped.push({ node, reason: "busy" });
        await res.body?.cancel();
        continue;
      }
      if (!res.ok) {
        skipped.push({ node, reason: `HTTP ${res.status}` });
        await res.body?.cancel();
        continue;
      }
      const raw = new Uint8Array(await res.arrayBuffer());
      if (count) count.receivedBytes += raw.byteLength;
      let result: unknown = null;
      try {
        result = JSON.parse(new TextDecoder().decode(raw));
      } catch {
        // not JSON: not a trace
      }
      if (!isTrace(result, req.segments.length)) {
        skipped.push({ node, reason: "not a trace" });
        continue;
      }
      return { kind: "traced", result, skipped, url: node, stateSent };
    } catch (e) {
      skipped.push({ node, reason: (e as Error).message });
    } finally {
      clearTimeout(timer);
    }
  }
  // Every full node is busy (their fair queues are full): the client hears 429, as for a turn.
  if (skipped.length > 0 && skipped.every((s) => s.reason === "busy")) {
    return { kind: "refused", response: new ApiError(429, `every full node is busy; retry in ${busyRetryAfter}s`, { type: "rate_limit_error", code: "nodes_busy", headers: { "retry-after": String(busyRetryAfter) } }).toResponse() };
  }
  return { kind: "untraced", skipped };
}
