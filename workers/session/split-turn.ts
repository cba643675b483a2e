// Where a turn runs. With sparse nodes configured (SPARSE_NODES) and a method they can
// decode, the turn is split: a full node (NODES) traces the new tokens, and a sparse node,
// holding only the masks' neuron shards, decodes with the trace's masks (and its KV entries,
// PREFILL_MODE=kv). Otherwise a full node runs the whole turn, as a single node always did.
//
// The sparse node is the one that holds most of the turn's kept neurons (overlap-routing.ts,
// with the session's last node and load as tie-breakers); rendezvous hashing when none is known.
//
// Faults: no full node can trace -> the sparse node decodes with the masks in force (a
// visible session event says why); no sparse node can decode -> a full node runs the turn.
import type { LayerMaskSummary } from "../../shared/dart/pruner.ts";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { NodeTraceResult, NodeTurnRequest, PrefillMode, ReportedEvent, TurnStart } from "../../shared/serving/protocol.ts";
import type { Env } from "../env.ts";
import { fromBase64, toBase64 } from "../../shared/serving/base64.ts";
import { keptNeuronsOfState } from "../../shared/dart/state-masks.ts";
import { rankByOverlap, type OverlapChoice } from "../../shared/serving/overlap-routing.ts";
import { openTurn, parseNodeList, type OpenedTurn } from "./node-client.ts";
import { countTurnSent, nodeResidency } from "./residency-client.ts";
import { countReceived, type TurnTransfer } from "./state-transfer.ts";
import { traceTurn } from "./trace-client.ts";

/** Methods a sparse node decodes; dense and dart-paper need the dense FFN mid-turn (see workers/node/sparse-decode.ts). */
const SPARSE_METHODS = new Set(["dart", "griffin", "static", "random"]);

/** Events the Session object sends and stores before the decoding node's own: the trace's, or why there was none. */
export type LeadEvents = (start: TurnStart) => { event: ReportedEvent; masks?: LayerMaskSummary[] }[];

export interface RoutedTurn {
  opened: OpenedTurn;
  transfer: TurnTransfer;
  lead: LeadEvents;
  /** The trace this turn used (null: none). */
  trace: NodeTraceResult | null;
}

export function prefillMode(env: Pick<Env, "PREFILL_MODE">): PrefillMode {
  return env.PREFILL_MODE === "masked" ? "masked" : "kv";
}

const noLead: LeadEvents = () => [];

/** Opens a whole turn on one of `nodes` (the state by version, or itself: state-transfer.ts). */
export type OpenSingle = (nodes: string[], req: NodeTurnRequest) => Promise<{ opened: OpenedTurn; transfer: TurnTransfer }>;

const bodyBytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x)).byteLength;

/** The sparse nodes in the order to try them for a turn whose pruner state (after its trace) is `state`. */
async function sparseOrder(nodes: string[], sessionKey: string, state: Uint8Array | null, lastNode: string | null, token: string | undefined): Promise<OverlapChoice> {
  const kept = state ? keptNeuronsOfState(state) : null;
  const residency = kept && nodes.length > 1 ? await nodeResidency(nodes, token) : new Map();
  return rankByOverlap({ nodes, sessionKey, need: kept?.bits ?? null, residency, lastNode, neededNeurons: kept?.count });
}

/**
 * `req` names its pruner state by version only; `loadState` gives the state itself, which a
 * split turn always sends: the trace starts from it, and the sparse node gets the trace's.
 */
export async function routeTurn(env: Env, req: NodeTurnRequest, timeoutMs: number, single: OpenSingle, loadState: () => Uint8Array | null, lastNode: string | null = null): Promise<RoutedTurn | Response> {
  const full = parseNodeList(env.NODES);
  const sparse = parseNodeList(env.SPARSE_NODES);
  if (sparse.length === 0 || !SPARSE_METHODS.has(req.dart.method)) {
    return { ...(await single(full.length ? full : sparse, req)), lead: noLead, trace: null };
  }
  const saved = loadState();
  req = { ...req, prunerState: saved ? toBase64(saved) : "" };
  delete req.prunerStateVersion;
  const kv = prefillMode(env) === "kv";
  // Both hops count: the trace (request and JSON answer) and the sparse node's turn.
  const transfer: TurnTransfer = { sentBytes: 0, receivedBytes: 0, stateSent: saved !== null };
  const t = full.length
    ? await traceTurn(full, { sessionKey: req.sessionKey, tenant: req.tenant, context: req.context, segments: req.segments, maxTokens: req.maxTokens, dart: req.dart, prunerState: req.prunerState, kvFrom: kv ? 1 + req.context.flat().length : null }, env.NODE_TOKEN, timeoutMs, transfer)
    : ({ kind: "untraced", skipped: [] } as const);
  if (t.kind === "refused") return t.response;
  const traced = t.kind === "traced" ? t.result : null;
  const sparseReq: NodeTurnRequest = traced
    ? { ...req, prunerState: traced.state, trace: { node: traced.node, prior: traced.prior, kv: traced.kv } }
    : { ...req, trace: { node: null, prior: null, kv: null } };
  const choice = await sparseOrder(sparse, req.sessionKey, traced ? fromBase64(traced.state) : saved, lastNode, env.NODE_TOKEN);
  let opened: OpenedTurn;
  try {
    opened = await openTurn(choice.order, sparseReq, env.NODE_TOKEN, timeoutMs, true);
    countTurnSent(opened.node);
    transfer.sentBytes += bodyBytes(sparseReq);
    transfer.stateSent ||= sparseReq.prunerState !== "";
  } catch (e) {
    // No sparse node could take it: a full node runs the whole turn (it traces again, from its cache).
    if (!(e instanceof ApiError && e.status === 503) || full.length === 0) throw e;
    transfer.sentBytes += bodyBytes(req);
    return { opened: countReceived(await openTurn(full, req, env.NODE_TOKEN, timeoutMs), transfer), transfer, lead: noLead, trace: null };
  }
  opened = countReceived(opened, transfer);
  const reasons = t.skipped.map((s) => `${s.node}: ${s.reason}`).join("; ");
  const why = t.kind === "untraced" ? reasons || "no full node configured" : "";
  const lead: LeadEvents = (start) => {
    if (!traced) {
      const newTokens = start.segmentIds.reduce((n, s) => n + s.length, 0);
      return [{ event: { pos: start.promptTokens - newTokens, kind: "turn", remask: false, decodedBy: start.node, routedBy: choice.policy, traceSkipped: `no full node could trace (${why}); the masks in force continue` } }];
    }
    return traced.events.map((e) => {
      const built = e.kind === "mask" && !e.remask;
      const event: ReportedEvent = { ...e, tracedBy: traced.node, decodedBy: start.node, routedBy: choice.policy, ...(built ? { bytesFetched: start.bytesFetched ?? 0 } : {}), ...(reasons ? { traceRetried: reasons } : {}) };
      return built ? { event, masks: traced.masks } : { event };
    });
  };
  return { opened, transfer, lead, trace: traced };
}
