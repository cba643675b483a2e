// What each sparse node holds (GET /v1/residency), cached per isolate and shared by the
// Session objects that run in it: node-level facts, no session's data. An entry younger than
// MAX_AGE_MS is used as is; an older one is revalidated with its ETag (a 304 carries only the
// node's load). A node that does not answer in time is left out: its residency is unknown,
// and routing ranks it after the known ones (shared/serving/overlap-routing.ts).
import { fromBase64 } from "../../shared/serving/base64.ts";
import type { NodeResidencyView } from "../../shared/serving/overlap-routing.ts";

const MAX_AGE_MS = 250;
const TIMEOUT_MS = 1000;

interface Cached extends NodeResidencyView {
  etag: string;
  at: number;
}

const cache = new Map<string, Cached>();

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);

async function refresh(node: string, token: string | undefined): Promise<Cached | null> {
  const old = cache.get(node);
  if (old && Date.now() - old.at < MAX_AGE_MS) return old;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  if (old) headers["if-none-match"] = old.etag;
  const res = await fetch(`${node}/v1/residency`, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  const load = Number(res.headers.get("x-dart-load"));
  if (res.status === 304 && old) return { ...old, load: Number.isFinite(load) ? load : old.load, at: Date.now() };
  if (!res.ok) {
    await res.body?.cancel();
    return null;
  }
  const body: unknown = await res.json();
  if (!isObj(body) || typeof body.bits !== "string" || !Number.isInteger(body.nLayers) || !Number.isInteger(body.hiddenDim)) return null;
  const bits = fromBase64(body.bits);
  if (bits.length !== Math.ceil(((body.nLayers as number) * (body.hiddenDim as number)) / 8)) return null;
  return { bits, load: Number.isFinite(load) ? load : 0, etag: res.headers.get("etag") ?? "", at: Date.now() };
}

/** The residency of each of `nodes` that answered (unknown ones are absent). */
export async function nodeResidency(nodes: string[], token: string | undefined): Promise<Map<string, NodeResidencyView>> {
  const out = new Map<string, NodeResidencyView>();
  await Promise.all(
    nodes.map(async (node) => {
      const r = await refresh(node, token).catch(() => null);
      if (r) {
        cache.set(node, r);
        out.set(node, r);
      } else cache.delete(node);
    }),
  );
  return out;
}

/** After a turn is sent to `node`, its load is one higher than it last said (so a burst of turns spreads out). */
export function countTurnSent(node: string): void {
  const c = cache.get(node);
  if (c) c.load++;
}
