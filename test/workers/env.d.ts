// The Worker's bindings as the workerd tests see them.
import type { Env as WorkerEnv } from "../../workers/env.ts";

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}

declare module "vitest" {
  export interface ProvidedContext {
    /** A pruner state the v1 build wrote (test/fixtures/dart-state-v1), base64, and its facts (JSON); see global-setup.ts. */
    v1State: { base64: string; facts: string };
  }
}
