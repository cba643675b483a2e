// Opens a turn on an inference node: the session's preferred node (rendezvous hashing, or the
// order overlap routing chose for a split turn), then the next ones when a node cannot be
// reached or fails. The request carries the whole
// context, so a node that has never seen the session replays it from the token ids.
import { ApiError } from "../../shared/serving/api-error.ts";
import type { NodeTurnRequest } from "../../shared/serving/protocol.ts";
import { rankNodes } from "../../shared/serving/rendezvous.ts";

export interface OpenedTurn {
  node: string;
  response: Response;
  /** Nodes tried before this one, with why they were skipped. */
  skipped: { node: string; reason: string }[];
}

export function parseNodeList(config: string | undefined): string[] {
  return (config ?? "")
    .split(/[\s,]+/)
    .map((s) => s.trim().replace(/\/+$/, ""))
    .filter(Boolean);
}

export const DEFAULT_NODE_TIMEOUT_MS = 30_000;

/** `ranked`: `nodes` is already in the order to try (overlap routing); otherwise rendezvous hashing orders them. */
export async function openTurn(nodes: string[], req: NodeTurnRequest, token: string | undefined, timeoutMs = DEFAULT_NODE_TIMEOUT_MS, ranked = false): Promise<OpenedTurn> {
  if (nodes.length === 0) throw new ApiError(503, "no inference nodes are configured (NODES)", { code: "no_nodes" });
  const skipped: OpenedTurn["skipped"] = [];
  let busyRetryAfter = Infinity; // the soonest retry a busy node (429) suggested
  const body = JSON.stringify(req);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  for (const node of ranked ? nodes : rankNodes(nodes, req.sessionKey)) {
    let response: Response;
    // A node that accepts the connection but never starts the turn counts as down; the timer
    // stops once the turn starts, so a long generation is never cut.
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    try {
      response = await fetch(`${node}/v1/turn`, { method: "POST", headers, body, signal: abort.signal });
    } catch (e) {
      skipped.push({ node, reason: (e as Error).message });
      continue;
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 429) {
      // Healthy but busy: another node may have room; if none has, the client hears 429, not 503.
      busyRetryAfter = Math.min(busyRetryAfter, Number(response.headers.get("retry-after")) || 1);
      skipped.push({ node, reason: "busy" });
      await response.body?.cancel();
      continue;
    }
    if (response.status >= 500) {
      skipped.push({ node, reason: `HTTP ${response.status}` });
      await response.body?.cancel();
      continue;
    }
    return { node, response, skipped };
  }
  if (Number.isFinite(busyRetryAfter)) {
    throw new ApiError(429, `every inference node is busy; retry in ${busyRetryAfter}s`, {
      type: "rate_limit_error",
      code: "nodes_busy",
      headers: { "retry-after": String(busyRetryAfter) },
    });
  }
  throw new ApiError(503, `no inference node is available (tried ${skipped.length})`, { code: "nodes_unavailable" });
}

/** Best effort: tell the session's nodes to free its KV cache. */
export async function forgetSession(nodes: string[], sessionKey: string, token: string | undefined): Promise<void> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  await Promise.allSettled(nodes.map((n) => fetch(`${n}/v1/sessions/${encodeURIComponent(sessionKey)}`, { method: "DELETE", headers }).then((r) => r.body?.cancel())));
}

export interface NodeReadiness {
  /** Nodes that accepted the node token and can take a turn now. */
  ready: number;
  total: number;
}

/**
 * Asks every node whether it can take a turn (GET /v1/ready with the node token): a node
 * still loading, unreachable, or holding another stack's token is not ready.
 */
export async function probeNodes(nodes: string[], token: string | undefined, timeoutMs = 2000): Promise<NodeReadiness> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const answers = await Promise.allSettled(
    nodes.map(async (n) => {
      const r = await fetch(`${n}/v1/ready`, { headers, signal: AbortSignal.timeout(timeoutMs) });
      await r.body?.cancel();
      return r.ok;
    }),
  );
  return { ready: answers.filter((a) => a.status === "fulfilled" && a.value).length, total: nodes.length };
}
