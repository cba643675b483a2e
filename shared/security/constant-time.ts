// Comparisons of secrets (tokens, digests) whose time depends only on the lengths, never on
// where the first differing byte is.

const enc = new TextEncoder();

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

export function sameText(a: string, b: string): boolean {
  return sameBytes(enc.encode(a), enc.encode(b));
}

/** Whether the Authorization header is `Bearer <t>` for one of `tokens` (empty ones ignored); every token is compared. */
export function bearerIsOneOf(header: string | null | undefined, tokens: (string | undefined)[]): boolean {
  let found = false;
  for (const t of tokens) if (t) found = sameText(header ?? "", `Bearer ${t}`) || found;
  return found;
}
