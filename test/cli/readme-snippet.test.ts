// The README's TypeScript client snippet compiles against the pinned `openai` client (strict
// tsc, as a user's ES module would). A broken copy of it must not, so the check can fail.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");
const DIR = join(ROOT, ".cache", `readme-snippet-${process.pid}`); // inside the repo: resolves node_modules
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

const snippets = [...readFileSync(join(ROOT, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);

function typecheck(name: string, code: string): { ok: boolean; output: string } {
  const dir = join(DIR, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "snippet.mts"), code);
  const compilerOptions = { strict: true, noEmit: true, target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", types: ["node"], skipLibCheck: true };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["snippet.mts"] }));
  const r = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", dir], { encoding: "utf8", timeout: 120_000 });
  return { ok: r.status === 0, output: r.stdout + r.stderr };
}

it("the README has a TypeScript snippet using the openai client, and it type-checks", () => {
  expect(snippets.length).toBeGreaterThan(0);
  expect(snippets[0]).toContain('from "openai"');
  snippets.forEach((code, i) => {
    const r = typecheck(`ok-${i}`, code);
    expect(r.output).toBe("");
    expect(r.ok).toBe(true);
  });
}, 120_000);

it("a wrong field in the snippet is caught", () => {
  const broken = snippets[0]!.replace("max_tokens: 64", 'max_tokens: "64"');
  expect(broken).not.toBe(snippets[0]);
  const r = typecheck("broken", broken);
  expect(r.ok).toBe(false);
  expect(r.output).toMatch(/snippet\.mts\(\d+,\d+\): error TS2\d+/);
}, 120_000);
