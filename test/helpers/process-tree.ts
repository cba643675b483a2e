// The processes a test started, found through /proc (Linux): every descendant of a pid, and
// whether a pid still runs. Children in process groups of their own are reparented when their
// parent dies, so a test records the tree while the parent lives and checks those pids after.
import { readdirSync, readFileSync } from "node:fs";

interface ProcStat {
  pid: number;
  ppid: number;
  state: string;
  command: string;
}

function stat(pid: number): ProcStat | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")"); // the command name may hold spaces and parentheses
    const [state, ppid] = s.slice(close + 2).split(" ");
    const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    return { pid, ppid: Number(ppid), state: state!, command };
  } catch {
    return undefined; // gone meanwhile
  }
}

/** Every process below `root` now (children, grandchildren, ...), with its command line. */
export function descendants(root: number): ProcStat[] {
  const all = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map((d) => stat(Number(d))).filter((p): p is ProcStat => p !== undefined);
  const found: ProcStat[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const p of all) if (p.ppid === parent) (found.push(p), frontier.push(p.pid));
  }
  return found;
}

/** Whether `pid` is still a running process (a zombie waiting for its parent counts as gone). */
export function running(pid: number): boolean {
  const s = stat(pid);
  return s !== undefined && s.state !== "Z";
}
