#!/usr/bin/env node
import { runCli } from "./program";

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`lifeboat: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
