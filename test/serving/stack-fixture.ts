// Starts the real local stack (wrangler dev running the gateway Worker and Durable Objects
// in workerd, plus real inference node processes on the real model) for a test file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { startStack, type Stack, type StackOptions } from "../../cli/stack.ts";
import { dataPath } from "../helpers/model-dir.ts";

export const KEY_A = "sk-test-a-" + Math.random().toString(36).slice(2);
export const KEY_B = "sk-test-b-" + Math.random().toString(36).slice(2);
export const MODEL = "stories260K";

export interface Fixture {
  stack: Stack;
  persistDir: string;
  options: StackOptions;
  client(key?: string): OpenAI;
  /** Plain fetch with key A's bearer (for what the openai client cannot express). */
  api(path: string, init?: RequestInit, key?: string): Promise<Response>;
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** Every fixture this test file started or is starting: disposeFixtures() stops them all. */
const started = new Set<Promise<Fixture>>();

/**
 * Stops every stack this file started, including one still starting when its beforeAll
 * timed out (then `f` was never assigned and `f?.dispose()` would leave it running): the
 * start is awaited up to `waitMs`, and stopped whenever it ends after that.
 */
export async function disposeFixtures(waitMs = 90_000): Promise<void> {
  const pending = [...started];
  started.clear();
  await Promise.all(
    pending.map(async (p) => {
      const settled = p.then((f) => f.dispose(), () => undefined); // a start that failed already stopped what it started
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([settled, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }),
  );
}

export function startFixture(extra: Partial<StackOptions> = {}): Promise<Fixture> {
  const p = launchFixture(extra);
  started.add(p);
  return p;
}

async function launchFixture(extra: Partial<StackOptions>): Promise<Fixture> {
  const persistDir = mkdtempSync(join(tmpdir(), "dart-serving-"));
  const options: StackOptions = { apiKeys: [KEY_A, KEY_B], nodes: 2, modelPath: dataPath("stories260K.bin"), persistDir, ...extra };
  let stack = await startStack(options);
  const f: Fixture = {
    get stack() {
      return stack;
    },
    persistDir,
    options,
    client: (key = KEY_A) => new OpenAI({ apiKey: key, baseURL: `${stack.url}/v1`, maxRetries: 0, timeout: 60_000 }),
    api: (path, init = {}, key = KEY_A) =>
      fetch(`${stack.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(init.headers ?? {}) } }),
    async restart() {
      await stack.stop();
      stack = await startStack(options);
    },
    async dispose() {
      await stack.stop();
      rmSync(persistDir, { recursive: true, force: true });
    },
  };
  return f;
}

export interface NodeTurnStats {
  sessionKey: string;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  stopReason: string;
  at: number;
}

/** A node's GET /stats (it takes the metrics token). */
export async function nodeTurns(nodeUrl: string, metricsToken: string): Promise<NodeTurnStats[]> {
  const r = await fetch(`${nodeUrl}/stats`, { headers: { authorization: `Bearer ${metricsToken}` } });
  return ((await r.json()) as { turns: NodeTurnStats[] }).turns;
}
