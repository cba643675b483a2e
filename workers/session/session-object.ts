// The Session Durable Object: source of truth of one conversation (per API key and
// session id). It renders new messages, drives one turn at a time on an inference node,
// streams the tokens back to the gateway, and persists history, DART state and usage
// once the turn completes. An aborted or failed turn leaves the stored session unchanged.
import { DurableObject } from "cloudflare:workers";
import { sameSettings } from "../../shared/dart/settings.ts";
import { keptNeuronsOfState, type KeptNeurons } from "../../shared/dart/state-masks.ts";
import { ApiError, badRequest } from "../../shared/serving/api-error.ts";
import { parseChatTemplate, renderSegments } from "../../shared/serving/chat-template.ts";
import { ChatTemplateError } from "../../shared/serving/jinja-template.ts";
import { fromBase64 } from "../../shared/serving/base64.ts";
import { NdjsonReader, ndjsonLine } from "../../shared/serving/ndjson.ts";
import { signSessionKey } from "../../shared/serving/session-key.ts";
import { stateVersion } from "../../shared/serving/state-version.ts";
import type { NewSegment, NodeEvent, NodeTurnRequest, SessionEvent, SessionTurnRequest, TurnStart } from "../../shared/serving/protocol.ts";
import type { Env } from "../env.ts";
import { DEFAULT_NODE_TIMEOUT_MS, forgetSession, openTurn, parseNodeList, probeNodes } from "./node-client.ts";
import { routeTurn, type LeadEvents } from "./split-turn.ts";
import { nextNodeEvent, nodeErrorResponse, nodeFault } from "./node-events.ts";
import { checkMessageFits, maxStateBytes, stateTooLarge } from "./storage-limits.ts";
import { openWithState, type TurnTransfer } from "./state-transfer.ts";
import { SessionStore, type SessionMeta } from "./store.ts";
import { checkMessageCounts, pageOf, sessionLimits } from "./session-limits.ts";
import { sessionView } from "./view.ts";
import { continuesHistory, indexHistory, unindexSession, withInstructions } from "./history-index.ts";
import { inProgress, replayAnswer, unknownKey } from "./idempotency.ts";
import { sessionIndexStub } from "../session-index/index-stub.ts";
import type { IdempotencyClaim, ReportedLogprob } from "../../shared/serving/protocol.ts";


/** The node's pruner state; what is not base64 is a node fault, never stored. */
function decodeState(base64: string): Uint8Array {
  try {
    return fromBase64(base64);
  } catch {
    throw nodeFault(502, "the inference node sent a pruner state that is not base64", "bad_node_response");
  }
}

interface Pending {
  role: string;
  content: string;
  segment: NewSegment;
}

export class SessionObject extends DurableObject<Env> {
  private readonly store: SessionStore;
  /** One generation at a time; in memory because a generation does not outlive the object. */
  private busy = false;
  /** The node this session's last turn ran on (its KV cache there): a tie-breaker of overlap routing. */
  private lastNode: string | null = null;
  /** The neurons its masks in force keep (from the last turn's state): overlap routing's hint for the next split turn. */
  private lastKept: KeptNeurons | null = null;
  /** The Idempotency-Key of the turn generating now (a retry of it gets 409, not a second turn). */
  private busyKey: string | null = null;
  /**
   * The turn generating now, by the id its response carries (x-turn-id): POST /cancel stops it.
   * A caller that cancels a DO response body is not noticed by this object's stream in workerd,
   * so a gateway whose non-streamed client left says so (gateway/cancel-on-disconnect.ts).
   */
  private current: { id: string; cancel(): Promise<void> } | null = null;
  /** What this session's storage takes (storage-limits.ts). */
  readonly limits: { maxStateBytes: number };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new SessionStore(ctx.storage);
    this.limits = { maxStateBytes: maxStateBytes(env.MAX_STATE_BYTES) };
  }

  override async fetch(request: Request): Promise<Response> {
    try {
      const url = new URL(request.url);
      const owner = request.headers.get("x-owner") ?? "";
      if (request.method === "POST" && url.pathname === "/turn") return await this.turn((await request.json()) as SessionTurnRequest);
      if (request.method === "POST" && url.pathname === "/cancel") {
        const { turnId } = (await request.json()) as { turnId: string };
        if (this.current?.id === turnId) await this.current.cancel();
        return new Response(null, { status: 204 });
      }
      if (request.method === "GET" && url.pathname === "/ready") return Response.json(await probeNodes([...parseNodeList(this.env.NODES), ...parseNodeList(this.env.SPARSE_NODES)], this.env.NODE_TOKEN));
      const meta = this.store.meta();
      if (!meta || meta.owner !== owner) throw new ApiError(404, "no such session", { param: "session_id", code: "session_not_found" });
      if (request.method === "GET") return Response.json(sessionView(meta, this.store.messages(), this.store.events(), this.store.transfer(), pageOf(url)));
      if (request.method === "DELETE") {
        if (this.busy) throw new ApiError(409, "this session is generating; retry the delete when the turn ends", { code: "session_busy" });
        await this.store.deleteAll();
        await unindexSession(this.env, meta.owner, meta.sessionId);
        const nodes = [...parseNodeList(this.env.NODES), ...parseNodeList(this.env.SPARSE_NODES)];
        this.ctx.waitUntil(forgetSession(nodes, await this.nodeSessionKey(), this.env.NODE_TOKEN));
        return Response.json({ id: meta.sessionId, object: "session.deleted", deleted: true });
      }
      throw new ApiError(405, `method ${request.method} not allowed`, { code: "method_not_allowed" });
    } catch (e) {
      if (e instanceof ApiError) return e.toResponse();
      throw e;
    }
  }

  private async turn(req: SessionTurnRequest): Promise<Response> {
    let meta = this.store.meta();
    if (req.create) {
      if (meta) throw new ApiError(409, "session id already exists", { param: "session_id", code: "session_exists" });
    } else if (!meta || meta.owner !== req.owner) {
      throw new ApiError(404, `no session ${req.sessionId} for this API key`, { param: "session_id", code: "session_not_found" });
    }
    if (req.idempotency) {
      const replay = meta ? replayAnswer(this.ctx.storage.sql, req.idempotency) : null;
      if (replay) return replay;
      if (this.busy && this.busyKey === req.idempotency.key) throw inProgress();
      if (req.replayOnly) throw unknownKey();
    }
    if (meta && req.dart && !sameSettings(req.dart, meta.dart)) {
      throw badRequest("dart settings are fixed when a session starts; omit dart or start a new session", "dart", "dart_settings_changed");
    }
    if (meta && req.model !== meta.model) throw badRequest(`this session uses model ${meta.model}`, "model", "model_mismatch");
    if (req.previousTurn !== undefined && meta && meta.turns !== req.previousTurn) {
      throw badRequest(
        `previous_response_id names turn ${req.previousTurn} of a conversation that has ${meta.turns}: only its latest response can be continued (one DART state per conversation); to branch, send the history as input instead`,
        "previous_response_id",
        "previous_response_not_latest",
      );
    }
    if (req.continueAfter !== undefined && !continuesHistory(this.store.messages(), req.messages ?? [], req.continueAfter)) {
      throw new ApiError(409, "the session's history is no longer a prefix of the request's messages", { code: "history_changed" });
    }
    if (this.busy) throw new ApiError(409, "this session is already generating a response; wait for it to finish or abort it", { code: "session_busy" });
    this.busy = true;
    this.busyKey = req.idempotency?.key ?? null;
    let handedOver = false;
    try {
      const dart = meta?.dart ?? req.dart ?? req.dartDefaults;
      const history = this.store.messages().filter((m) => m.inContext);
      const pending = this.newMessages(req, meta !== null, history);
      for (const p of pending) checkMessageFits(p.role, p.content);
      const nodeReq: NodeTurnRequest = {
        sessionKey: await this.nodeSessionKey(),
        tenant: req.owner,
        context: history.map((m) => m.ids),
        segments: pending.map((p) => p.segment),
        maxTokens: req.maxTokens,
        temperature: req.temperature,
        topP: req.topP,
        seed: req.seed ?? Math.floor(Math.random() * 0x7fffffff),
        dart,
        prunerState: "", // filled by openWithState: the state's version, or the state itself
        sampling: req.sampling,
      };
      const timeoutMs = Number(this.env.NODE_TIMEOUT_MS) || DEFAULT_NODE_TIMEOUT_MS;
      const loadState = () => (meta ? this.store.prunerState() : null);
      const routed = await routeTurn(this.env, nodeReq, timeoutMs, (nodes, r) =>
        openWithState((x) => openTurn(nodes, x, this.env.NODE_TOKEN, timeoutMs), r, meta?.state?.version ?? null, loadState), loadState, meta?.state?.version ?? null, { kept: this.lastKept, lastNode: this.lastNode });
      if (routed instanceof Response) return routed;
      this.lastNode = routed.opened.node;
      const { opened, transfer } = routed;
      if (!opened.response.ok) return await nodeErrorResponse(opened.response);
      const reader = new NdjsonReader<NodeEvent>(opened.response.body!);
      const first = await nextNodeEvent(reader, timeoutMs, "bad_node_response").catch(async (e: unknown) => {
        await reader.cancel();
        throw e;
      });
      if (!first || first.type !== "start" || first.segmentIds.length !== pending.length || first.droppedEntries > history.length) {
        await reader.cancel();
        throw new ApiError(502, "the inference node answered without starting the turn", { code: "bad_node_response" });
      }
      if (!meta) {
        this.store.create(req.sessionId, req.owner, req.model, dart);
        meta = this.store.meta()!;
      }
      // A retry that names no session finds this one through the key's index (gateway/session-turn.ts).
      if (req.idempotency) await sessionIndexStub(this.env, meta.owner).recordKey(req.idempotency.key, meta.sessionId).catch(() => {});
      handedOver = true;
      return this.streamTurn(meta, pending, first, reader, timeoutMs, transfer, routed.lead, req.idempotency ?? null);
    } finally {
      if (!handedOver) this.busy = false;
    }
  }

  /** Fires SESSION_IDLE_TTL_S after the last turn (each turn moves it): the session was idle that long. */
  override async alarm(): Promise<void> {
    if (this.busy) return void (await this.ctx.storage.setAlarm(Date.now() + 60_000));
    const meta = this.store.meta();
    if (!meta) return;
    await this.store.deleteAll();
    await unindexSession(this.env, meta.owner, meta.sessionId).catch(() => {});
    await forgetSession(parseNodeList(this.env.NODES), await this.nodeSessionKey(), this.env.NODE_TOKEN);
  }

  /** This session's KV-cache key on the nodes, signed so no one else can name it (shared/serving/session-key.ts). */
  private nodeSessionKey(): Promise<string> {
    return signSessionKey(this.ctx.id.toString(), this.env.NODE_TOKEN);
  }

  /** Messages of this request the session has not seen, rendered by the chat template. */
  private newMessages(req: SessionTurnRequest, resumed: boolean, history: { role: string; content: string }[]): Pending[] {
    const stored = this.store.messages().length;
    if (req.prompt !== undefined) {
      checkMessageCounts(sessionLimits(this.env), 1, stored, 2);
      return [{ role: "user", content: req.prompt, segment: { text: req.prompt } }];
    }
    const msgs = req.messages ?? [];
    // A resumed session already holds everything up to the last assistant reply; clients
    // may resend the whole conversation or only the new message.
    let from = req.continueAfter ?? 0;
    if (resumed && req.continueAfter === undefined && req.previousTurn === undefined) for (let i = 0; i < msgs.length; i++) if (msgs[i]!.role === "assistant") from = i + 1;
    // Empty messages carry nothing for the model: they are neither sent nor stored.
    const fresh = withInstructions(msgs.slice(from), req.instructions, this.store.messages()).filter((m) => m.content !== "");
    checkMessageCounts(sessionLimits(this.env), msgs.length, stored, fresh.length + 1);
    if (fresh.length === 0) throw badRequest("no new message after the last assistant message", "messages", "no_new_message");
    const template = parseChatTemplate(this.env.CHAT_TEMPLATE);
    let texts: string[];
    try {
      texts = renderSegments(template, history, fresh);
    } catch (e) {
      // A model's template may refuse a conversation (roles that do not alternate, say).
      if (e instanceof ChatTemplateError) throw badRequest(e.message, "messages", "invalid_messages");
      throw e;
    }
    return fresh.map((m, i) => ({ role: m.role, content: m.content, segment: { text: texts[i]! } }));
  }

  /** Relays the node's tokens; persists the turn when the node reports it done. */
  private streamTurn(
    meta: SessionMeta, pending: Pending[], start: TurnStart, reader: NdjsonReader<NodeEvent>, timeoutMs: number, transfer: TurnTransfer, leadEvents: LeadEvents,
    claim: IdempotencyClaim | null,
  ): Response {
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.busy = false;
      this.busyKey = null;
      this.current = null;
    };
    // The client went away: closing the node's stream makes the node stop generating.
    const cancel = async () => {
      release();
      await reader.cancel();
    };
    // What a retry with the same Idempotency-Key is answered with (idempotency.ts).
    let text = "";
    const logprobs: ReportedLogprob[] = [];
    const first: SessionEvent = { type: "start", sessionId: meta.sessionId, turn: meta.turns + 1, droppedMessages: start.droppedEntries, node: start.node };
    // A split turn's trace events (or why it had none) come first, then the decoding node's own.
    const lead = leadEvents(start);
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        controller.enqueue(ndjsonLine(first));
        for (const l of lead) controller.enqueue(ndjsonLine({ type: "dart", ...l } satisfies SessionEvent));
      },
      pull: async (controller) => {
        try {
          const e = await nextNodeEvent(reader, timeoutMs, "node_failed");
          if (e?.type === "text" && claim) {
            text += e.text;
            if (e.logprobs) logprobs.push(...e.logprobs);
          }
          if (e?.type === "text" || e?.type === "dart") return controller.enqueue(ndjsonLine(e));
          if (e?.type === "done") {
            const usage = { promptTokens: start.promptTokens, completionTokens: e.completionIds.length, cachedTokens: start.cachedTokens };
            const state = decodeState(e.pruner.state);
            this.lastKept = this.env.SPARSE_NODES ? keptNeuronsOfState(state) : null;
            if (state.byteLength > this.limits.maxStateBytes) throw stateTooLarge(state.byteLength, this.limits.maxStateBytes);
            if (e.nodeToNodeBytes) transfer.nodeToNodeBytes = (transfer.nodeToNodeBytes ?? 0) + e.nodeToNodeBytes;
            const s = e.pruner.stats;
            const done: SessionEvent & { type: "done" } = {
              type: "done",
              finishReason: e.finishReason,
              usage,
              dart: { method: meta.dart.method, effectiveSparsity: s.effectiveSparsity, remasks: s.remasks, denseTokens: s.denseTokens, tokens: s.tokens },
            };
            this.store.recordTurn({
              droppedMessages: start.droppedEntries,
              messages: [
                ...pending.map((p, i) => ({ role: p.role, content: p.content, ids: start.segmentIds[i] ?? [] })),
                { role: "assistant", content: e.completion, ids: e.completionIds },
              ],
              prunerState: { bytes: state, version: await stateVersion(state) },
              transfer,
              events: [...lead.map((l) => l.event), ...e.pruner.events],
              masks: e.pruner.masks,
              stats: e.pruner.stats,
              usage,
              ...(claim ? { idempotent: { claim, answer: { start: first, text, logprobs, done } } } : {}),
            });
            // Before the answer ends: the client's next request may resend this history at once.
            await indexHistory(this.env, meta.owner, meta.sessionId, this.store.messages()).catch(() => {});
            const ttl = sessionLimits(this.env).idleTtlMs;
            if (ttl > 0) this.ctx.waitUntil(this.ctx.storage.setAlarm(Date.now() + ttl));
            controller.enqueue(ndjsonLine(done));
          } else if (e?.type === "error") {
            controller.enqueue(ndjsonLine(e));
          } else {
            const err: SessionEvent = { type: "error", status: 502, message: "the inference node stopped in the middle of the turn", param: null, code: "node_failed" };
            controller.enqueue(ndjsonLine(err));
          }
          release();
          controller.close();
        } catch (err) {
          // A silent, broken or garbled node stream: report it in-band, store nothing.
          release();
          await reader.cancel();
          if (!(err instanceof ApiError)) throw err;
          controller.enqueue(ndjsonLine({ type: "error", status: err.status, message: err.message, param: null, code: err.code } satisfies SessionEvent));
          controller.close();
        }
      },
      cancel: () => cancel(),
    });
    this.current = { id: crypto.randomUUID(), cancel };
    return new Response(stream, { headers: { "content-type": "application/x-ndjson", "x-turn-id": this.current.id } });
  }
}
