// How the local stack hands secrets to its processes without putting them on a command line
// (which any local user can read in `ps`): wrangler reads them from a dotenv file in the
// state folder that only this user can read (mode 0600, passed as `--env-file`), the nodes
// from their environment. Everything else stays a plain `--var`.
import { chmodSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashApiKey } from "../shared/security/api-key-hash.ts";

/** Worker vars that are secrets (also any var whose name says token, secret, hash or key). */
const SECRET_NAME = /TOKEN|SECRET|HASH|PASSWORD|(^|_)KEYS?$/;

export const isSecretVar = (name: string) => SECRET_NAME.test(name);

/** The salted, slow API_KEY_HASHES entries for plain keys (PBKDF2, shared/security/api-key-hash.ts). */
export async function apiKeyHashes(keys: string[]): Promise<string> {
  return (await Promise.all(keys.map((k) => hashApiKey(k)))).join(",");
}

export interface WranglerVars {
  /** `--var` / `--env-file` arguments for `wrangler dev`: no secret value among them. */
  args: string[];
  /** Removes the secrets file (when the stack stops). */
  remove(): void;
}

/**
 * Writes the secret vars to `<persistDir>/.dev.vars` (0600) and returns wrangler's arguments:
 * `--env-file` for that file plus a `--var` for each non-secret.
 */
export function wranglerVars(persistDir: string, vars: Record<string, string>): WranglerVars {
  const secrets = Object.entries(vars).filter(([k]) => isSecretVar(k));
  const plain = Object.entries(vars).filter(([k]) => !isSecretVar(k));
  for (const [k, v] of secrets) {
    if (/[\r\n'"\\$`]/.test(v)) throw new Error(`the value of ${k} cannot go into a dotenv file (quote, newline, backslash or $)`);
  }
  mkdirSync(persistDir, { recursive: true });
  const file = join(persistDir, ".dev.vars");
  writeFileSync(file, secrets.map(([k, v]) => `${k}='${v}'\n`).join(""), { mode: 0o600 });
  chmodSync(file, 0o600); // writeFileSync's mode applies only when it creates the file
  return {
    args: ["--env-file", file, ...plain.flatMap(([k, v]) => ["--var", `${k}:${v}`])],
    remove: () => rmSync(file, { force: true }),
  };
}
