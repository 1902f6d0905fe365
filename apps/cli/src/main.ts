#!/usr/bin/env node
import { readCliEnv } from "./cli-kit";
import { runCli } from "./program";

// A closed pipe (e.g. `lifeboat … | head`, or a parent that died) must not crash a command mid-cleanup.
for (const stream of [process.stdout, process.stderr]) stream.on("error", () => {});

// The process's edge: the environment is read here, once, and handed to the commands.
runCli(process.argv.slice(2), readCliEnv(process.env, process.cwd())).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`lifeboat: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
