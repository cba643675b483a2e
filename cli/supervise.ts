// The launcher's child processes (wrangler dev, inference nodes): each runs in its own process
// group under a reaper (cli/reaper.ts) that stops the group when asked or when this process
// ends in any way, SIGKILL included. `stopAllChildren()` stops every live one and refuses new
// ones, for a launcher that was told to stop while it is still starting things.
import { spawn, type ChildProcess } from "node:child_process";
import type { Server } from "node:net";
import { resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..");
const REAPER = resolve(import.meta.dirname, "reaper.ts");

export interface ChildOptions {
  env: NodeJS.ProcessEnv;
  /** Called with every output line, prefixed by the child's name. */
  onLine: (line: string) => void;
  /** Listening sockets handed to the child as its fds 3, 4, ... (then closed here). */
  sockets?: Server[];
}

const live = new Set<Child>();
let closed = false;

/** A Node program (`args[0]` a script) run under a reaper in a process group of its own. */
export class Child {
  readonly name: string;
  /** The reaper: stdout and stderr are the child's, stdin carries stop requests. */
  readonly reaper: ChildProcess;
  /** The child's pid, which is also its process group id. */
  readonly started: Promise<number>;
  readonly exited: Promise<number | null>;
  pid = 0;

  constructor(name: string, args: string[], opts: ChildOptions) {
    if (closed) throw new Error(`not starting ${name}: the launcher is stopping`);
    this.name = name;
    const sockets = opts.sockets ?? [];
    // A listening server's fd (Node keeps it on the private handle; spawn duplicates it into the child).
    const passed = sockets.map((s) => (s as unknown as { _handle: { fd: number } })._handle.fd);
    this.reaper = spawn(process.execPath, [REAPER, String(sockets.length), process.execPath, ...args], {
      cwd: ROOT,
      env: opts.env,
      detached: true, // out of the launcher's group: the launcher decides when its children stop
      stdio: ["pipe", "pipe", "pipe", "pipe", ...passed],
    });
    for (const s of sockets) s.close(); // the reaper holds them now, then the child
    this.reaper.stdin!.on("error", () => {}); // the reaper may be gone already
    for (const s of [this.reaper.stdout!, this.reaper.stderr!]) {
      let buf = "";
      s.setEncoding("utf8");
      s.on("data", (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          opts.onLine(`[${name}] ${buf.slice(0, nl)}`);
          buf = buf.slice(nl + 1);
        }
      });
    }
    this.exited = new Promise((r) => this.reaper.once("exit", (code) => r(code)));
    this.started = new Promise((res, rej) => {
      let text = "";
      const status = this.reaper.stdio[3] as NodeJS.ReadableStream;
      status.setEncoding("utf8");
      status.on("data", (d: string) => {
        text += d;
        const m = /^pid (\d+)\n/.exec(text);
        if (m) res((this.pid = Number(m[1])));
      });
      void this.exited.then((code) => rej(new Error(`${name} exited with code ${code} before it started`)));
    });
    this.started.catch(() => {});
    live.add(this);
    void this.exited.then(() => live.delete(this));
  }

  get running(): boolean {
    return this.reaper.exitCode === null && this.reaper.signalCode === null;
  }

  /** Sends `signal` to the child's whole group (SIGKILL if it lingers) and waits until the reaper is gone. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (!this.running) return;
    this.reaper.stdin!.write(`${signal}\n`);
    await this.exited;
  }
}

/** Stops every child still running and refuses to start new ones. */
export async function stopAllChildren(): Promise<void> {
  closed = true;
  await Promise.all([...live].map((c) => c.stop()));
}
