// The version of a pruner state: the first 128 bits of its SHA-256, hex. The Session object
// stores it with the state; a node keeps the state it last produced for a session under the
// same version (workers/node/state-cache.ts), so a turn whose state the node already holds
// sends only the version. Web Crypto: the same code runs in workerd and Node.
export async function stateVersion(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest.subarray(0, 16), (b) => b.toString(16).padStart(2, "0")).join("");
}
