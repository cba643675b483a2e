// What a turn sends to and receives from its node, kept small. The Session object names the
// state it holds by version; a node that produced that state (its soft cache,
// workers/node/state-cache.ts) uses it, and one that did not answers 409
// `state_not_cached` before starting, so the turn is reopened with the state itself.
// The bytes of both directions are counted for the session's transfer log.
import { toBase64 } from "../../shared/serving/base64.ts";
import type { NodeTurnRequest } from "../../shared/serving/protocol.ts";
import type { OpenedTurn } from "./node-client.ts";

export interface TurnTransfer {
  /** Request bodies sent to open the turn (both when the state had to be resent). */
  sentBytes: number;
  /** Response bytes read from the node. */
  receivedBytes: number;
  /** Whether the pruner state itself went to the node (a soft-cache miss, or no version yet). */
  stateSent: boolean;
  /** Bytes the nodes pushed to each other for the turn (a split turn's handoff and state push); they never cross the Session object. */
  nodeToNodeBytes?: number;
}

const bodyBytes = (req: NodeTurnRequest) => new TextEncoder().encode(JSON.stringify(req)).byteLength;

/** Whether a node answered 409 with error `code` (state_not_cached, handoff_not_found); `res` rebuilt, as its body was read. */
export async function isConflict(res: Response, code: string): Promise<{ miss: boolean; res: Response }> {
  if (res.status !== 409) return { miss: false, res };
  const text = await res.text();
  const miss = new RegExp(`"code"\\s*:\\s*"${code}"`).test(text);
  return { miss, res: new Response(text, { status: res.status, headers: res.headers }) };
}

/**
 * Opens the turn with `open`, sending only `version` when there is one, the state from
 * `load` when there is none or the node lacks it. The response body counts received bytes.
 */
export async function openWithState(
  open: (req: NodeTurnRequest) => Promise<OpenedTurn>,
  req: NodeTurnRequest,
  version: string | null,
  load: () => Uint8Array | null,
): Promise<{ opened: OpenedTurn; transfer: TurnTransfer }> {
  const transfer: TurnTransfer = { sentBytes: 0, receivedBytes: 0, stateSent: false };
  let opened: OpenedTurn | null = null;
  if (version) {
    const byVersion: NodeTurnRequest = { ...req, prunerState: "", prunerStateVersion: version };
    transfer.sentBytes += bodyBytes(byVersion);
    opened = await open(byVersion);
    const checked = await isConflict(opened.response, "state_not_cached");
    opened = checked.miss ? null : { ...opened, response: checked.res };
  }
  if (!opened) {
    const state = load();
    const full: NodeTurnRequest = { ...req, prunerState: state ? toBase64(state) : "" };
    delete full.prunerStateVersion;
    transfer.stateSent = state !== null;
    transfer.sentBytes += bodyBytes(full);
    opened = await open(full);
  }
  return { opened: countReceived(opened, transfer), transfer };
}

/** The turn with its response body counted into `transfer.receivedBytes` as it is read. */
export function countReceived(opened: OpenedTurn, transfer: TurnTransfer): OpenedTurn {
  const body = opened.response.body;
  if (!body) return opened;
  const counted = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        transfer.receivedBytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    }),
  );
  return { ...opened, response: new Response(counted, { status: opened.response.status, headers: opened.response.headers }) };
}
