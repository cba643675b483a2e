// Reading a node's NDJSON events defensively: each read is bounded by the node timeout
// (a node that goes silent mid-turn must not hold the session for ever), and a line that is
// not JSON or not one of the protocol's events is a node fault, never trusted or stored.
import { ApiError } from "../../shared/serving/api-error.ts";
import type { NdjsonReader } from "../../shared/serving/ndjson.ts";
import type { NodeEvent, TurnDone, TurnError, TurnStart } from "../../shared/serving/protocol.ts";

const isInt = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0;
const isIds = (a: unknown): a is number[] => Array.isArray(a) && a.every(isInt);
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

export const nodeFault = (status: 502 | 504, message: string, code: string) => new ApiError(status, message, { code });

/** The next event within `timeoutMs`; a timeout, a broken connection or a malformed line throws an ApiError (504 or 502 `code`). */
export async function nextNodeEvent(reader: NdjsonReader<NodeEvent>, timeoutMs: number, code: string): Promise<NodeEvent | null> {
  let timer!: ReturnType<typeof setTimeout>; // set at once by the executor below
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(nodeFault(504, `the inference node sent nothing for ${timeoutMs} ms`, "node_timeout")), timeoutMs);
  });
  try {
    const e = await Promise.race([reader.next(), timeout]);
    if (e !== null && !isNodeEvent(e)) throw new SyntaxError("not a node event");
    return e;
  } catch (e) {
    if (e instanceof ApiError) throw e;
    throw nodeFault(502, "the inference node stream broke off or was malformed", code);
  } finally {
    clearTimeout(timer);
  }
}

function isNodeEvent(e: unknown): e is NodeEvent {
  if (!isObj(e)) return false;
  switch (e.type) {
    case "start": {
      const s = e as Partial<TurnStart>;
      return typeof s.node === "string" && isInt(s.droppedEntries) && Array.isArray(s.segmentIds) && s.segmentIds.every(isIds) && isInt(s.promptTokens) && isInt(s.cachedTokens);
    }
    case "text":
      return typeof e.text === "string" && (e.logprobs === undefined || Array.isArray(e.logprobs));
    case "dart":
      return isObj(e.event) && (e.masks === undefined || Array.isArray(e.masks));
    case "done": {
      const d = e as Partial<TurnDone>;
      const p = d.pruner as Partial<TurnDone["pruner"]> | undefined;
      return (
        isIds(d.completionIds) &&
        typeof d.completion === "string" &&
        (d.finishReason === "stop" || d.finishReason === "length") &&
        isObj(p) &&
        typeof p.state === "string" &&
        Array.isArray(p.events) &&
        Array.isArray(p.masks) &&
        isObj(p.stats)
      );
    }
    case "error": {
      const x = e as Partial<TurnError>;
      return isInt(x.status) && x.status >= 400 && x.status <= 599 && typeof x.message === "string";
    }
    default:
      return false;
  }
}

/**
 * A node's error answer is passed on only when it is about the request (400, 413) and an
 * OpenAI-style error object; anything else (a 401 from a wrong NODE_TOKEN, an HTML page) is a 502.
 */
export async function nodeErrorResponse(res: Response): Promise<Response> {
  const text = await res.text().catch(() => "");
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  const err = isObj(body) && isObj(body.error) ? body.error : null;
  if ((res.status === 400 || res.status === 413) && err && typeof err.message === "string") {
    return new Response(text, { status: res.status, headers: { "content-type": "application/json" } });
  }
  return nodeFault(502, `the inference node answered HTTP ${res.status} without an error object`, "bad_node_response").toResponse();
}
