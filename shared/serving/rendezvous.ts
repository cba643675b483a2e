// Rendezvous (highest random weight) hashing: every session ranks all nodes by
// hash(node, session); it prefers the first and fails over down the list. Adding or
// removing a node moves only the sessions whose top node changed.

/** 32-bit FNV-1a followed by a murmur3 finalizer (FNV alone mixes the last bytes poorly). */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The nodes in the order this session should try them. */
export function rankNodes(nodes: readonly string[], sessionKey: string): string[] {
  return nodes
    .map((node) => ({ node, score: hash32(node + "\u0000" + sessionKey) }))
    .sort((a, b) => b.score - a.score || (a.node < b.node ? -1 : 1))
    .map((x) => x.node);
}
