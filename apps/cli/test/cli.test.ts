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

  it("lists its commands with --help and exits 0", async () => {
    const r = await lifeboat(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/start\s/);
    expect(r.stdout).toMatch(/admin\s/);
  });

  it("exits 2 on an unknown command or option", async () => {
    expect((await lifeboat(["no-such-command"])).code).toBe(2);
    expect((await lifeboat(["start", "--no-such-option"])).code).toBe(2);
  });
});
