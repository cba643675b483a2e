// Secrets never reach a command line: any local user can read /proc/<pid>/cmdline. The real
// stack (wrangler dev, workerd, two nodes) gets its tokens and key digests from a 0600 file and the environment; this test reads the
// command line of every process the stack started and finds none of them.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_A, KEY_B, startFixture, disposeFixtures, type Fixture } from "./stack-fixture.ts";

let f: Fixture;
beforeAll(async () => {
  f = await startFixture({ nodeWeights: "file", metricsToken: "metrics-" + Math.random().toString(36).slice(2) });
}, 300_000);
afterAll(async () => {
  await disposeFixtures();
});

/** pid -> {ppid, cmdline} of every process this user can see. */
function processTable(): Map<number, { ppid: number; cmdline: string }> {
  const table = new Map<number, { ppid: number; cmdline: string }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ");
      table.set(Number(name), { ppid, cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return table;
}

/** Every descendant of `root`. */
function descendants(root: number): { pid: number; cmdline: string }[] {
  const table = processTable();
  const out: { pid: number; cmdline: string }[] = [];
  const walk = (pid: number) => {
    for (const [child, p] of table) if (p.ppid === pid) (out.push({ pid: child, cmdline: p.cmdline }), walk(child));
  };
  walk(root);
  return out;
}

function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^([A-Z_]+)='([^']*)'$/.exec(line);
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

describe("secrets off the command line", () => {
  it("keeps every token and key digest out of every process's command line", async () => {
    const file = join(f.persistDir, ".dev.vars");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const secrets = parseDotenv(readFileSync(file, "utf8"));
    expect(Object.keys(secrets).sort()).toEqual(["API_KEY_HASHES", "METRICS_TOKEN", "NODE_TOKEN"]);
    expect(secrets.METRICS_TOKEN).toBe(f.stack.metricsToken);
    // Salted, slow digests: one PBKDF2 entry per key, none of them the key's bare SHA-256.
    expect(secrets.API_KEY_HASHES!.split(",")).toHaveLength(2);
    for (const h of secrets.API_KEY_HASHES!.split(",")) expect(h).toMatch(/^pbkdf2-sha256:100000:[\w-]{22}:[\w-]{43}$/);

    // This stack's processes: wrangler (the one persisting to this test's folder), its workerd, both nodes.
    const all = descendants(process.pid);
    const wrangler = all.find((p) => p.cmdline.includes("wrangler.js dev") && p.cmdline.includes(f.persistDir));
    expect(wrangler).toBeDefined();
    const stackPids = [wrangler!.pid, ...f.stack.nodes.map((n) => n.pid)];
    const procs = all.filter((p) => stackPids.includes(p.pid) || stackPids.some((root) => descendants(root).some((d) => d.pid === p.pid)));
    const cmdlines = procs.map((p) => p.cmdline);
    expect(cmdlines.some((c) => /workerd/.test(c))).toBe(true);
    expect(cmdlines.filter((c) => c.includes("workers/node/server.ts")).length).toBeGreaterThanOrEqual(2);
    // Every process under this test (this stack's and any other) is checked.
    const everything = all.map((p) => p.cmdline);
    const needles = [...Object.values(secrets), ...secrets.API_KEY_HASHES!.split(","), KEY_A, KEY_B];
    for (const c of everything) for (const s of needles) expect(c.includes(s), `a secret in: ${c}`).toBe(false);
    // The secrets did reach the processes: the API works, /metrics takes the metrics token and
    // /weights the node token.
    expect((await f.api("/v1/models")).status).toBe(200);
    expect((await f.api("/v1/models", {}, KEY_B)).status).toBe(200);
    const metrics = await fetch(`${f.stack.url}/metrics`, { headers: { authorization: `Bearer ${f.stack.metricsToken}` } });
    expect(metrics.status).toBe(200);
    await metrics.body?.cancel();
    const weights = await fetch(`${f.stack.url}/weights/stories260K/manifest.json`, { headers: { authorization: `Bearer ${secrets.NODE_TOKEN}` } });
    expect(weights.status).toBe(404); // past the token check: file nodes seed nothing
    await weights.body?.cancel();
    expect((await fetch(`${f.stack.url}/weights/stories260K/manifest.json`, { headers: { authorization: `Bearer ${secrets.NODE_TOKEN}x` } })).status).toBe(401);
    // A weights path that is not valid percent-encoding is a 400 (it was a URIError, a 500).
    const bad = await fetch(`${f.stack.url}/weights/%E0%A4%A`, { headers: { authorization: `Bearer ${secrets.NODE_TOKEN}` } });
    expect(bad.status).toBe(400);
    await bad.body?.cancel();
  });

  it("removes the secrets file when the stack stops", async () => {
    const file = join(f.persistDir, ".dev.vars");
    await f.stack.stop();
    expect(() => statSync(file)).toThrow();
  });
});
