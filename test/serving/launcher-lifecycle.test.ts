// `dart serve` (npm start) leaves nothing running however it ends: a SIGTERM to its process
// group while it starts up (after the gateway answers, before the nodes are ready), SIGKILL of
// the launcher itself, and a crash of the launcher during start-up. After each, no process it
// started (reapers, wrangler, workerd, inference nodes) runs within a few seconds and the port
// is free. A port already in use is one line naming it, before anything starts, exit 1.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort, listenLoopback, portOf } from "../../cli/ports.ts";
import { MODEL_DIR } from "../helpers/model-dir.ts";
import { descendants, running } from "../helpers/process-tree.ts";

const root = resolve(import.meta.dirname, "../..");
const dirs: string[] = [];
const launched: Launch[] = [];
afterAll(() => {
  for (const l of launched) if (running(l.pid)) process.kill(l.pid, "SIGKILL");
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Launch {
  pid: number;
  port: number;
  persistDir: string;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every process seen below the launcher so far (the tree is sampled while it runs). */
  seen: Map<number, string>;
  stopSampling: () => void;
}

/** Starts `dart serve` as a process group of its own (like a shell job), sampling its process tree. */
async function launch(args: string[] = [], nodeArgs: string[] = [], env: NodeJS.ProcessEnv = {}, port?: number): Promise<Launch> {
  const persistDir = mkdtempSync(join(tmpdir(), "dart-lifecycle-"));
  dirs.push(persistDir);
  port ??= await freePort();
  const child = spawn(process.execPath, [...nodeArgs, "cli/dart.ts", "serve", "--persist-to", persistDir, ...args], {
    cwd: root,
    env: { ...process.env, PORT: String(port), DART_MODEL_DIR: MODEL_DIR, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (err += d));
  const seen = new Map<number, string>();
  const sample = () => {
    for (const p of descendants(child.pid!)) seen.set(p.pid, p.command);
  };
  const timer = setInterval(sample, 50);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once("exit", (code, signal) => r({ code, signal })));
  void exited.then(() => clearInterval(timer));
  const l: Launch = { pid: child.pid!, port, persistDir, out: () => out, err: () => err, exited, seen, stopSampling: () => clearInterval(timer) };
  launched.push(l);
  return l;
}

async function until(what: string, l: Launch, cond: () => boolean | Promise<boolean>, timeoutMs = 240_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not after ${timeoutMs} ms\n${l.err()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const answers = (url: string) =>
  fetch(url).then(
    (r) => r.ok,
    () => false,
  );

/** Processes still running that the launcher started: sampled ones, and any naming its port or state folder. */
function leftovers(l: Launch): string[] {
  const mine = (cmd: string) => cmd.includes(l.persistDir) || cmd.includes(`127.0.0.1:${l.port}`);
  const others = readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid)
    .flatMap((d) => {
      try {
        const cmd = readFileSync(`/proc/${d}/cmdline`, "utf8").replaceAll("\0", " ");
        return mine(cmd) && running(Number(d)) ? [`${d} ${cmd}`] : [];
      } catch {
        return [];
      }
    });
  const sampled = [...l.seen].filter(([pid]) => running(pid)).map(([pid, cmd]) => `${pid} ${cmd}`);
  return [...new Set([...sampled, ...others])];
}

/**
 * Waits for everything the launcher started to be gone, then checks the port is closed. The
 * reapers take 3 s at most (SIGTERM, then SIGKILL); 10 s leaves room for a busy 2-core machine.
 */
async function expectNothingLeft(l: Launch): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (leftovers(l).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  expect(leftovers(l).join("\n")).toBe("");
  await expect(fetch(`http://127.0.0.1:${l.port}/healthz`)).rejects.toThrow();
}

const commands = (l: Launch) => [...l.seen.values()].join("\n");

describe.concurrent("dart serve stops everything it started", () => {
  it("on SIGTERM to its process group during start-up, once /healthz answers", async () => {
    const l = await launch();
    await until("gateway /healthz", l, () => answers(`http://127.0.0.1:${l.port}/healthz`));
    expect(commands(l)).toMatch(/workerd/);
    // Nodes load from the store only once the gateway is up: not ready yet, and no banner.
    const readyz = await fetch(`http://127.0.0.1:${l.port}/readyz`);
    expect(readyz.status).toBe(503);
    // The default stack: one full node and one sparse node, neither loaded yet.
    expect(await readyz.json()).toMatchObject({ ready: false, nodes: { ready: 0, total: 2 } });
    expect(l.out()).not.toContain("serving at");
    process.kill(-l.pid, "SIGTERM");
    const { code } = await l.exited;
    expect(code).toBe(143);
    expect(l.err()).toContain("SIGTERM while starting");
    await expectNothingLeft(l);
  }, 300_000);

  it("when the launcher itself is killed with SIGKILL", async () => {
    const l = await launch(["--node-weights", "file"]);
    await until("the banner", l, () => l.out().includes("Ctrl-C"));
    const tree = commands(l);
    expect(tree).toMatch(/workerd/);
    expect(tree).toMatch(/workers\/node\/server\.ts/);
    process.kill(l.pid, "SIGKILL");
    expect((await l.exited).signal).toBe("SIGKILL");
    await expectNothingLeft(l);
  }, 300_000);

  it("when the launcher crashes during start-up", async () => {
    const port = await freePort();
    const crash = resolve(root, "test/helpers/crash-when-healthy.ts");
    const l = await launch([], ["--import", crash], { CRASH_WHEN_HEALTHY: `http://127.0.0.1:${port}/healthz` }, port);
    const { code } = await l.exited;
    expect(l.err()).toContain("injected launcher crash");
    expect(code).not.toBe(0);
    expect(commands(l)).toMatch(/workerd/);
    await expectNothingLeft(l);
  }, 300_000);
});

it("refuses a port in use in one line, before starting anything", async () => {
  const taken = await listenLoopback(0);
  try {
    const l = await launch([], [], {}, portOf(taken));
    const { code } = await l.exited;
    expect(code).toBe(1);
    expect(l.err().trim()).toBe(`dart serve: port ${portOf(taken)} is already in use (another dart serve or wrangler dev?): stop it, or choose another port with --port or PORT`);
    expect(l.seen.size).toBe(0);
  } finally {
    taken.close();
  }
}, 60_000);

it("says in one line that the model folder is missing, before starting anything", async () => {
  const l = await launch([], [], { DART_MODEL_DIR: "/nonexistent/models" });
  const { code } = await l.exited;
  expect(code).toBe(1);
  expect(l.err().trim()).toBe(`dart serve: no model file at /nonexistent/models/stories260K.bin: set DART_MODEL_DIR to the folder that holds it (README, "Model files")`);
  expect(l.seen.size).toBe(0);
}, 60_000);
