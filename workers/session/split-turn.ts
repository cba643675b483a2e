// Where a turn runs. With sparse nodes configured (SPARSE_NODES) and a method they can
// decode, the turn is split: a full node (NODES) traces the new tokens, and a sparse node,
// holding only the masks' neuron shards, decodes with the trace's masks (and its KV entries,
// PREFILL_MODE=kv). Otherwise a full node runs the whole turn, as a single node always did.
//
// Bytes (docs/session-state.md, "Split turns"): the trace names the state by version (the full
// node's soft cache) and the sparse node the Session object chose; the full node pushes the
// traced state, prior masks and KV entries there and answers with the masks summary only; the
// sparse node's turn names that handoff, and at the end pushes its final state back to the full
// node's soft cache. The state reaches the Session object once, in the done event, and is
// stored there: the Session object stays the source of truth. Each miss (a node restarted, an
// entry evicted, a push failed) is a 409 answered by resending: correct, only slower.
//
// The sparse node, chosen before the trace so that the full node can push the handoff there, is
// the one that holds most of the neurons the session's masks in force keep (the new masks are
// close to them: a turn changes a few percent of the FFN), with the session's last node and load
// as tie-breakers (shared/serving/overlap-routing.ts); rendezvous hashing when nothing is known.
//
// Faults: no full node can trace -> the sparse node decodes with the masks in force (a
// visible session event says why); no sparse node can decode -> a full node runs the turn.
import type { LayerMaskSummary } from "../../shared/dart/pruner.ts";
import { ApiError } from "../../shared/serving/api-error.ts";
import type { NodeTraceRequest, NodeTraceResult, NodeTurnRequest, PrefillMode, ReportedEvent, TurnStart } from "../../shared/serving/protocol.ts";
import { rankByOverlap, type OverlapChoice } from "../../shared/serving/overlap-routing.ts";
import type { KeptNeurons } from "../../shared/dart/state-masks.ts";
import { toBase64 } from "../../shared/serving/base64.ts";
import { openTurn, parseNodeList, type OpenedTurn } from "./node-client.ts";
import { countReceived, isConflict, type TurnTransfer } from "./state-transfer.ts";
import { traceTurn } from "./trace-client.ts";
import { countTurnSent, nodeResidency } from "./residency-client.ts";

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

/** What routing reads of the Worker's Env (workers/env.ts), named here so the routing runs outside a Worker too (tests on real nodes). */
export interface SplitEnv {
  NODES?: string;
  SPARSE_NODES?: string;
  NODE_TOKEN?: string;
  PREFILL_MODE?: string;
}

export function prefillMode(env: Pick<SplitEnv, "PREFILL_MODE">): PrefillMode {
  return env.PREFILL_MODE === "masked" ? "masked" : "kv";
}

const noLead: LeadEvents = () => [];

/** Opens a whole turn on one of `nodes` (the state by version, or itself: state-transfer.ts). */
export type OpenSingle = (nodes: string[], req: NodeTurnRequest) => Promise<{ opened: OpenedTurn; transfer: TurnTransfer }>;

const bodyBytes = (x: unknown) => new TextEncoder().encode(JSON.stringify(x)).byteLength;

/** A random id for one turn's handoff (128 bits, hex). */
function handoffId(): string {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The sparse node's request after a trace: the handoff's id when the full node pushed it there, else the trace inline. */
function afterTrace(req: NodeTurnRequest, t: { result: NodeTraceResult; url: string }): NodeTurnRequest {
  const r = t.result;
  if (r.handoff) return { ...req, prunerState: "", trace: { node: r.node, prior: null, kv: null, handoff: r.handoff.id, stateTo: t.url } };
  return { ...req, prunerState: r.state, trace: { node: r.node, prior: r.prior, kv: r.kv, stateTo: t.url } };
}

/** What the Session object knows that helps choose a sparse node: the masks in force and the node it decoded on last. */
export interface RouteHint {
  kept?: KeptNeurons | null;
  lastNode?: string | null;
}

/** The sparse nodes in the order to try them: by overlap with their resident neurons when the masks are known. */
async function sparseOrder(nodes: string[], sessionKey: string, hint: RouteHint, token: string | undefined): Promise<OverlapChoice> {
  const kept = hint.kept ?? null;
  const residency = kept && nodes.length > 1 ? await nodeResidency(nodes, token) : new Map();
  return rankByOverlap({ nodes, sessionKey, need: kept?.bits ?? null, residency, lastNode: hint.lastNode, neededNeurons: kept?.count });
}

/**
 * `req` names its pruner state by version only (`version`, null before the first turn);
 * `loadState` gives the state itself, for a node that lacks it or a turn that was not traced.
 */
export async function routeTurn(env: SplitEnv, req: NodeTurnRequest, timeoutMs: number, single: OpenSingle, loadState: () => Uint8Array | null, version: string | null = null, hint: RouteHint = {}): Promise<RoutedTurn | Response> {
  const full = parseNodeList(env.NODES);
  const sparse = parseNodeList(env.SPARSE_NODES);
  if (sparse.length === 0 || !SPARSE_METHODS.has(req.dart.method)) {
    return { ...(await single(full.length ? full : sparse, req)), lead: noLead, trace: null };
  }
  let saved: Uint8Array | null | undefined; // loaded once, only when a node needs the state itself
  const stateB64 = () => {
    if (saved === undefined) saved = loadState();
    return saved ? toBase64(saved) : "";
  };
  delete req.prunerStateVersion;
  const kv = prefillMode(env) === "kv";
  // Both hops count: the trace (request and JSON answer) and the sparse node's turn.
  const transfer: TurnTransfer = { sentBytes: 0, receivedBytes: 0, stateSent: false, nodeToNodeBytes: 0 };
  // The sparse node openTurn tries first receives the trace's bulk from the full node.
  const choice = await sparseOrder(sparse, req.sessionKey, hint, env.NODE_TOKEN);
  const target = choice.order[0]!;
  const traceReq: NodeTraceRequest = {
    sessionKey: req.sessionKey, tenant: req.tenant, context: req.context, segments: req.segments, maxTokens: req.maxTokens, dart: req.dart,
    ...(version ? { prunerState: "", prunerStateVersion: version } : { prunerState: stateB64() }),
    kvFrom: kv ? 1 + req.context.flat().length : null,
  };
  const withState = (): NodeTraceRequest => ({ ...traceReq, prunerState: stateB64(), prunerStateVersion: undefined });
  const trace = (handoffTo: NodeTraceRequest["handoffTo"]) =>
    traceTurn(full, { ...traceReq, handoffTo }, env.NODE_TOKEN, timeoutMs, transfer, withState);
  let t = full.length ? await trace({ url: target, id: handoffId() }) : ({ kind: "untraced", skipped: [] } as const);
  if (t.kind === "refused") return t.response;
  const send = async (r: NodeTurnRequest) => {
    transfer.sentBytes += bodyBytes(r);
    transfer.stateSent ||= r.prunerState !== "";
    const opened = await openTurn(choice.order, r, env.NODE_TOKEN, timeoutMs, true);
    countTurnSent(opened.node);
    return opened;
  };
  let opened: OpenedTurn;
  try {
    if (t.kind === "traced") {
      transfer.stateSent ||= t.stateSent;
      transfer.nodeToNodeBytes! += t.result.handoff?.bytes ?? 0;
      const sent = await send(afterTrace(req, t));
      const first = await isConflict(sent.response, "handoff_not_found");
      opened = { ...sent, response: first.res };
      if (first.miss) {
        // The handoff is gone (the sparse node restarted, or evicted it): trace again, answered inline.
        t = await trace(undefined);
        if (t.kind === "refused") return t.response;
        if (t.kind !== "traced") throw new ApiError(503, "the full node that traced this turn can no longer be reached", { code: "nodes_unavailable" });
        transfer.stateSent ||= t.stateSent;
        opened = await send(afterTrace(req, t));
      }
    } else {
      opened = await send({ ...req, prunerState: stateB64(), trace: { node: null, prior: null, kv: null } });
    }
  } catch (e) {
    // No sparse node could take it: a full node runs the whole turn (it traces again, from its cache).
    if (!(e instanceof ApiError && e.status === 503) || full.length === 0) throw e;
    const whole = { ...req, prunerState: stateB64() };
    transfer.sentBytes += bodyBytes(whole);
    transfer.stateSent ||= whole.prunerState !== "";
    return { opened: countReceived(await openTurn(full, whole, env.NODE_TOKEN, timeoutMs), transfer), transfer, lead: noLead, trace: null };
  }
  opened = countReceived(opened, transfer);
  const traced = t.kind === "traced" ? t.result : null;
  const reasons = t.skipped.map((s) => `${s.node}: ${s.reason}`).join("; ");
  const why = t.kind === "untraced" ? reasons || "no full node configured" : "";
  const lead: LeadEvents = (start) => {
    if (!traced) {
      const newTokens = start.segmentIds.reduce((n, s) => n + s.length, 0);
      return [{ event: { pos: start.promptTokens - newTokens, kind: "turn", remask: false, decodedBy: start.node, routedBy: choice.policy, traceSkipped: `no full node could trace (${why}); the masks in force continue` } }];
    }
    return traced.events.map((e) => {
      const built = e.kind === "mask" && !e.remask;
      const event: ReportedEvent = {
        ...e, tracedBy: traced.node, decodedBy: start.node, routedBy: choice.policy,
        ...(built ? { bytesFetched: start.bytesFetched ?? 0, builtOn: { node: start.node, role: "sparse", weights: "store" } } : {}),
        ...(reasons ? { traceRetried: reasons } : {}),
      };
      return built ? { event, masks: traced.masks } : { event };
    });
  };
  return { opened, transfer, lead, trace: traced };
}
