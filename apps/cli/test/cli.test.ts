import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { lifeboat, lifeboatBin, repoRoot } from "./support/run-cli";

describe("lifeboat CLI", () => {
  it("runs from its build: bin.lifeboat is the file the tests run", () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "apps/cli/package.json"), "utf8"));
    expect(path.join(repoRoot, "apps/cli", pkg.bin.lifeboat)).toBe(lifeboatBin);
    // Compiled JavaScript that plain `node` runs (every test here starts it without a TypeScript loader).
    expect(lifeboatBin).toMatch(/\.mjs$/);
  });

  it("loads only the command tree to start: what a command needs comes with the command", () => {
    // The files `node dist/lifeboat.mjs` loads before any command runs: the entry and its static imports.
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const code = readFileSync(file, "utf8");
      for (const m of code.matchAll(
        /(?:^|[;\n])\s*(?:import|export)\s*(?:[^"';]*?from\s*)?"(\.{1,2}\/[^"]+)"/g,
      ))
        visit(path.resolve(path.dirname(file), m[1] ?? ""));
    };
    visit(lifeboatBin);
    const loaded = [...seen].map((f) => readFileSync(f, "utf8")).join("\n");
    expect(loaded.length).toBeLessThan(512 * 1024);
    // None of the heavy stacks: HTTP client, Prisma, qcow2, zod schemas, the simulator.
    // The password estimator's lists too: they load at the first password check.
    for (const heavy of ["/undici@", "/@prisma+client@", "/zod@", "/node-forge@", "/@zxcvbn-ts+"])
      expect(loaded).not.toContain(heavy);
  });

  it("lists its commands with --help and exits 0", async () => {
    const r = await lifeboat(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/start\s/);
    expect(r.stdout).toMatch(/admin\s/);
  });

  it("refuses a weak --password for a reset, saying why, before it opens the catalog", async () => {
    const r = await lifeboat(
      ["admin", "reset-password", "--email", "ops@lifeboat.test", "--password", "sunshine1234"],
      {
        DATABASE_URL: "postgresql://postgres@127.0.0.1:1/lifeboat_nowhere",
      },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      "--password is too weak: This password is close to one of the most common ones.",
    );
  });

  it("exits 2 on an unknown command or option", async () => {
    expect((await lifeboat(["no-such-command"])).code).toBe(2);
    expect((await lifeboat(["start", "--no-such-option"])).code).toBe(2);
  });
});
