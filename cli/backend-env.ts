// DART_BACKEND=ts|wasm picks the compute backend of CLI commands and the inference
// node (unset: the default, the fastest this runtime supports).
import { BACKEND_NAMES, type BackendName } from "../shared/engine/backend/index.ts";
import { UsageError } from "./usage.ts";

export function backendFromEnv(env: Record<string, string | undefined> = process.env): BackendName | undefined {
  const v = env.DART_BACKEND;
  if (v === undefined || v === "") return undefined;
  if (!(BACKEND_NAMES as readonly string[]).includes(v)) throw new UsageError(`DART_BACKEND must be one of ${BACKEND_NAMES.join(", ")}; got "${v}"`);
  return v as BackendName;
}
