import { describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

describe("lifeboat CLI", () => {
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
