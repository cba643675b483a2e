// `npm start` (dart serve): honours PORT and DART_API_KEY, prints the URL, the key and a curl
// that works as printed, and Ctrl-C (SIGINT) takes every process of the stack down.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";
import { freePort } from "../../cli/stack.ts";
import { MODEL_DIR } from "../helpers/model-dir.ts";

const root = resolve(import.meta.dirname, "../..");
const persist = mkdtempSync(join(tmpdir(), "dart-serve-"));
let child: ReturnType<typeof spawn> | undefined;
afterAll(async () => {
  if (child && child.exitCode === null) {
    child.kill("SIGINT"); // lets serve stop its process groups
    await new Promise((r) => setTimeout(r, 5000));
    child.kill("SIGKILL");
  }
  rmSync(persist, { recursive: true, force: true });
});

it("starts the stack, prints a working curl, and stops everything on SIGINT", async () => {
  const port = await freePort();
  const key = "sk-serve-test-" + Date.now();
  child = spawn(process.execPath, ["cli/dart.ts", "serve", "--persist-to", persist], {
    cwd: root,
    env: { ...process.env, PORT: String(port), DART_API_KEY: key, DART_MODEL_DIR: MODEL_DIR },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => child!.once("exit", (c) => r(c)));
  for (let i = 0; i < 960 && !out.includes("Ctrl-C"); i++) await new Promise((r) => setTimeout(r, 250));
  expect(out, err).toContain("Ctrl-C");
  expect(out).toContain(`http://127.0.0.1:${port}`);
  // The banner comes when a chat would succeed: /readyz says so at once.
  // Ready once a node can take a chat; the default stack has two (one full, one sparse).
  const readiness = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { ready: boolean; nodes: { ready: number; total: number } };
  expect(readiness.ready).toBe(true);
  expect(readiness.nodes.total).toBe(2);
  expect(readiness.nodes.ready).toBeGreaterThanOrEqual(1);
  expect(out).toContain(`API key: ${key}`);
  const curl = out.split("\n").find((l) => l.startsWith("curl "))!;
  expect(curl).toContain(`Bearer ${key}`);
  // Run the printed command as a shell would.
  const answer = JSON.parse(execFileSync("sh", ["-c", curl + " -s"], { encoding: "utf8" })) as { object: string; choices: { message: { content: string } }[] };
  expect(answer.object).toBe("chat.completion");
  expect(answer.choices[0]!.message.content.length).toBeGreaterThan(0);
  // One full and one sparse node by default, each listed with its role.
  const nodes = /^nodes: (.+)$/m.exec(out)![1]!.split(", ").map((n) => /^(http:\/\/127\.0\.0\.1:\d+) \((full|sparse)\)$/.exec(n)!);
  expect(nodes.map((m) => m[2])).toEqual(["full", "sparse"]);
  const nodeUrls = nodes.map((m) => m[1]!);
  for (const [i, url] of nodeUrls.entries()) {
    const health = (await (await fetch(`${url}/healthz`)).json()) as { role: string };
    expect(health.role).toBe(nodes[i]![2]);
  }

  child.kill("SIGINT");
  expect(await exited).toBe(0);
  for (const url of [`http://127.0.0.1:${port}/healthz`, ...nodeUrls.map((u) => `${u}/healthz`)]) {
    await expect(fetch(url)).rejects.toThrow();
  }
}, 300_000); // a fresh state folder is seeded first: over a minute on a busy 2-core machine
