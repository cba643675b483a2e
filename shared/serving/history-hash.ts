// Hashes of a conversation's message prefixes, for finding the session a stateless client's
// request continues: hashes[k - 1] names messages[0..k), chained so that each costs one
// SHA-256 of (previous hash, role, content). Equal hashes mean equal role/content sequences.

export interface HistoryMessage {
  role: string;
  content: string;
}

const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** hashes[k - 1] is the hash of the first k messages. */
export async function historyHashes(messages: HistoryMessage[]): Promise<string[]> {
  const out: string[] = [];
  let h = "";
  for (const m of messages) {
    h = await sha256Hex(JSON.stringify([h, m.role, m.content]));
    out.push(h);
  }
  return out;
}
