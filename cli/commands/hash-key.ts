// `dart hash-key`: the salted API_KEY_HASHES entry for a key read from stdin (never argv,
// which every local user can read).
import { hashApiKey } from "../../shared/security/api-key-hash.ts";
import { parseFlags, UsageError } from "../usage.ts";

export const usage = `dart hash-key < keyfile
  Reads one API key from stdin and prints its API_KEY_HASHES entry
  (pbkdf2-sha256:<iterations>:<salt>:<digest>, a fresh random salt each time).
  Example: printf %s "$KEY" | npx dart hash-key | npx wrangler secret put API_KEY_HASHES`;

export async function run(argv: string[]): Promise<void> {
  parseFlags(argv, {});
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const key = Buffer.concat(chunks).toString("utf8").trim();
  if (!key || /\s/.test(key)) throw new UsageError("stdin must hold one API key (no spaces)");
  process.stdout.write((await hashApiKey(key)) + "\n");
}
