// Where a split turn decodes: the sparse node that already holds most of the neurons its
// masks keep, so the node fetches least. Near-equal candidates (within `tieNeurons` of the
// best) are decided by the session's KV cache (the node it decoded on last keeps its
// history's entries), then by load (turns running or waiting there), then by rendezvous
// order. A node busier than the least busy known one by more than `loadGap` turns goes after
// the others whatever it holds, so sessions of one topic do not all pile onto the node that
// holds that topic. Nodes whose residency is unknown come after the known ones, in rendezvous order;
// with no masks or no residency known at all the order is plain rendezvous hashing.
import { countMissing } from "./neuron-bits.ts";
import { rankNodes } from "./rendezvous.ts";

export interface NodeResidencyView {
  /** Resident neurons, packed like the masks' bitset. */
  bits: Uint8Array;
  /** Turns running or waiting on the node when it last answered. */
  load: number;
}

export interface OverlapChoice {
  order: string[];
  policy: "overlap" | "rendezvous";
  /** Neurons the first node lacks (overlap policy only). */
  missingNeurons?: number;
}

export interface OverlapInputs {
  nodes: readonly string[];
  sessionKey: string;
  /** The turn's kept neurons (packed), or null when not known. */
  need: Uint8Array | null;
  residency: ReadonlyMap<string, NodeResidencyView>;
  /** The node this session decoded on last (its KV cache). */
  lastNode?: string | null;
  /** Candidates missing at most this many neurons more than the best tie (default: 10% of the needed neurons, at least 1: a session keeps its node, and its KV cache there, unless another node saves more). */
  tieNeurons?: number;
  neededNeurons?: number;
  /** Turns above the least loaded node's that make a node a last resort (default 4). */
  loadGap?: number;
}

export function rankByOverlap(x: OverlapInputs): OverlapChoice {
  const hashed = rankNodes(x.nodes, x.sessionKey);
  const need = x.need;
  const scored = need
    ? hashed.flatMap((node, rank) => {
        const r = x.residency.get(node);
        return r && r.bits.length === need.length ? [{ node, rank, missing: countMissing(need, r.bits), load: r.load }] : [];
      })
    : [];
  if (scored.length === 0) return { order: hashed, policy: "rendezvous" };
  const tie = x.tieNeurons ?? Math.max(1, Math.round(0.1 * (x.neededNeurons ?? 0)));
  const minLoad = Math.min(...scored.map((s) => s.load));
  const open = scored.filter((s) => s.load - minLoad <= (x.loadGap ?? 4));
  const best = Math.min(...open.map((s) => s.missing));
  // 0: tied with the best; 1: fetches more; 2: overloaded.
  const group = (s: (typeof scored)[number]) => (!open.includes(s) ? 2 : s.missing - best <= tie ? 0 : 1);
  const isLast = (n: string) => (n === x.lastNode ? 0 : 1);
  scored.sort((a, b) => {
    const ga = group(a), gb = group(b);
    if (ga !== gb) return ga - gb;
    if (ga === 0) return isLast(a.node) - isLast(b.node) || a.load - b.load || a.rank - b.rank;
    return a.missing - b.missing || a.load - b.load || a.rank - b.rank;
  });
  const known = new Set(scored.map((s) => s.node));
  return { order: [...scored.map((s) => s.node), ...hashed.filter((n) => !known.has(n))], policy: "overlap", missingNeurons: scored[0]!.missing };
}
