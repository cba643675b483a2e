// API key digests as the gateway's API_KEY_HASHES holds them. A salted, slow entry
//   pbkdf2-sha256:<iterations>:<salt, base64url>:<digest, base64url>
// makes guessing a weak key from a leaked configuration expensive (each guess costs
// <iterations> HMACs, per entry). A bare 64-hex SHA-256 entry (the old format) is still
// accepted; `dart hash-key` prints the new form (README, "Security").
// WebCrypto only, so the gateway (workerd) and the CLI (Node) share it.
import { sameBytes, sameText } from "./constant-time.ts";

export const PBKDF2_PREFIX = "pbkdf2-sha256";
/** workerd refuses PBKDF2 above 100,000 iterations. */
export const DEFAULT_PBKDF2_ITERATIONS = 100_000;

export interface Pbkdf2Entry {
  kind: "pbkdf2";
  iterations: number;
  salt: Uint8Array;
  digest: Uint8Array;
}
export interface Sha256Entry {
  kind: "sha256";
  hex: string;
}
export type KeyHashEntry = Pbkdf2Entry | Sha256Entry;

const enc = new TextEncoder();

export function toBase64Url(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const bin = atob(text.replaceAll("-", "+").replaceAll("_", "/") + "=".repeat((4 - (text.length % 4)) % 4));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", enc.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function pbkdf2(key: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey("raw", enc.encode(key), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, 256);
  return new Uint8Array(bits);
}

/** A new salted entry for `key` (random 16-byte salt). */
export async function hashApiKey(key: string, iterations = DEFAULT_PBKDF2_ITERATIONS): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  return `${PBKDF2_PREFIX}:${iterations}:${toBase64Url(salt)}:${toBase64Url(await pbkdf2(key, salt, iterations))}`;
}

/** Parses API_KEY_HASHES (comma or whitespace separated); malformed entries are skipped. */
export function parseKeyHashes(config: string | undefined): KeyHashEntry[] {
  const out: KeyHashEntry[] = [];
  for (const raw of (config ?? "").split(/[\s,]+/)) {
    const s = raw.trim();
    if (/^[0-9a-fA-F]{64}$/.test(s)) out.push({ kind: "sha256", hex: s.toLowerCase() });
    const p = s.split(":");
    if (p.length === 4 && p[0] === PBKDF2_PREFIX) {
      const iterations = Number(p[1]);
      const salt = fromBase64Url(p[2]!);
      const digest = fromBase64Url(p[3]!);
      if (Number.isInteger(iterations) && iterations >= 1 && iterations <= DEFAULT_PBKDF2_ITERATIONS && salt && salt.length >= 8 && digest?.length === 32) {
        out.push({ kind: "pbkdf2", iterations, salt, digest });
      }
    }
  }
  return out;
}

/** Whether `key` matches one of `entries`; every entry is checked (no early exit). */
export async function keyMatches(key: string, entries: KeyHashEntry[]): Promise<boolean> {
  const hex = await sha256Hex(key);
  let found = false;
  for (const e of entries) {
    const ok = e.kind === "sha256" ? sameText(e.hex, hex) : sameBytes(e.digest, await pbkdf2(key, e.salt, e.iterations));
    found ||= ok;
  }
  return found;
}
