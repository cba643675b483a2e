#!/usr/bin/env node
// The `dart` command line: one subcommand per file in cli/commands.
import { ModelFormatError } from "../shared/model/config.ts";
import { UsageError } from "./usage.ts";

interface Command {
  usage: string;
  run(argv: string[]): Promise<void>;
}

const commands: Record<string, () => Promise<Command>> = {
  generate: () => import("./commands/generate.ts"),
  eval: () => import("./commands/eval.ts"),
  sweep: () => import("./commands/sweep.ts"),
  overhead: () => import("./commands/overhead.ts"),
  serve: () => import("./commands/serve.ts"),
  "serve-bench": () => import("./commands/serve-bench.ts"),
  "routing-bench": () => import("./commands/routing-bench.ts"),
  shard: () => import("./commands/shard.ts"),
  "shard-upload": () => import("./commands/shard-upload.ts"),
  synth: () => import("./commands/synth.ts"),
  bench: () => import("./commands/bench.ts"),
  "hash-key": () => import("./commands/hash-key.ts"),
  tokenize: () => import("./commands/tokenize.ts"),
  "chat-template": () => import("./commands/chat-template.ts"),
  prepare: () => import("./commands/prepare.ts"),
};

async function printUsage(stream: NodeJS.WriteStream): Promise<void> {
  const lines = ["usage:"];
  for (const load of Object.values(commands)) lines.push("  " + (await load()).usage.replaceAll("\n", "\n  "));
  stream.write(lines.join("\n") + "\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    await printUsage(process.stdout);
    return 0;
  }
  const load = name ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(name ? `dart: unknown command "${name}"\n` : "dart: missing command\n");
    await printUsage(process.stderr);
    return 2;
  }
  const cmd = await load();
  try {
    await cmd.run(rest);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`dart ${name}: ${e.message}\nusage: ${cmd.usage}\n`);
      return 2;
    }
    if (e instanceof ModelFormatError || e instanceof RangeError || (e as Error).name === "PromptTooLongError" || (e as Error).name === "ChatTemplateError") {
      process.stderr.write(`dart ${name}: ${(e as Error).message}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main(process.argv.slice(2));
