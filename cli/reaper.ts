// A small supervisor between the launcher (cli/supervise.ts) and one child program (wrangler
// dev, an inference node), so that nothing the launcher started outlives it, however it ends.
//
// The child runs in a process group of its own (so wrangler's workerd can be stopped with it).
// A process group is not tied to its parent: when the launcher dies, even by SIGKILL, nobody
// would stop it. Linux's PR_SET_PDEATHSIG covers one process, not a tree (workerd is
// wrangler's child), and Node cannot set it. So the reaper watches a pipe instead: the
// launcher holds the write end of the reaper's stdin, and the kernel closes it when the
// launcher exits for any reason. End of input means "the launcher is gone": the reaper
// sends SIGTERM to the child's group, SIGKILL after a grace period, and exits.
//
//   node cli/reaper.ts <passed fds> <program> [args...]
//   fd 0 (from the launcher): one signal name a line ("SIGTERM", "SIGKILL") to send to the
//        child's group, escalated to SIGKILL after GRACE_MS; end of input: the same, SIGTERM.
//   fd 3 (to the launcher): "pid <n>\n" once the child is started.
//   fds 4 .. 3+<passed fds>: handed to the child as its fds 3 .. (listening sockets).
// stdout and stderr are the child's. The reaper exits with the child's status (128+n for a signal).
import { spawn } from "node:child_process";
import { closeSync, writeSync } from "node:fs";
import { constants } from "node:os";

const GRACE_MS = 3000;
const [passedFds, program, ...args] = process.argv.slice(2);
if (!program || !/^\d+$/.test(passedFds ?? "")) {
  process.stderr.write("usage: node cli/reaper.ts <passed fds> <program> [args...]\n");
  process.exit(2);
}
const passed = Array.from({ length: Number(passedFds) }, (_, i) => 4 + i);
const child = spawn(program, args, { detached: true, stdio: ["ignore", "inherit", "inherit", ...passed] });
for (const fd of passed) closeSync(fd); // the child holds them now
child.once("error", (e) => {
  process.stderr.write(`cannot start ${program}: ${e.message}\n`);
  process.exit(127);
});

const signalGroup = (sig: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, sig);
  } catch {
    /* the group is gone */
  }
};
let escalation: NodeJS.Timeout | undefined;
function stop(sig: NodeJS.Signals) {
  signalGroup(sig);
  escalation ??= setTimeout(() => signalGroup("SIGKILL"), GRACE_MS);
}

if (child.pid !== undefined) writeSync(3, `pid ${child.pid}\n`);
closeSync(3);

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d: string) => {
  input += d;
  let nl: number;
  while ((nl = input.indexOf("\n")) >= 0) {
    const sig = input.slice(0, nl).trim();
    input = input.slice(nl + 1);
    stop(sig in constants.signals ? (sig as NodeJS.Signals) : "SIGTERM");
  }
});
process.stdin.once("end", () => stop("SIGTERM"));
process.stdin.once("error", () => stop("SIGTERM"));
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"] as const) process.on(s, () => stop("SIGTERM"));

child.once("exit", (code, signal) => {
  signalGroup("SIGKILL"); // stragglers of the group (workerd once wrangler is gone)
  if (escalation) clearTimeout(escalation);
  process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0));
});
