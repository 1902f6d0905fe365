import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { type BuiltChain, buildChain, tempDir } from "@lifeboat/disk-image/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

let root: { dir: string; cleanup: () => Promise<void> };
let chain: BuiltChain;
beforeAll(async () => {
  root = await tempDir("lifeboat-cli-chain-");
  await mkdir(path.join(root.dir, "disk"));
  chain = await buildChain(path.join(root.dir, "disk"), {
    size: "1M",
    layers: [{ io: ["write -P 0x11 0 64k"] }, {}, {}, { io: ["write -P 0x22 64k 64k"] }],
  });
});
afterAll(async () => {
  await root.cleanup();
});

describe("lifeboat chain", () => {
  it("prints the layer files base → top (--json: an array of names; else one line per layer)", async () => {
    const [json, text] = await Promise.all([
      lifeboat(["chain", "disk", "--json"], { INIT_CWD: root.dir }),
      lifeboat(["chain", "disk"], { INIT_CWD: root.dir }),
    ]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(chain.names);
    expect(text.code).toBe(0);
    expect(
      text.stdout
        .trim()
        .split("\n")
        .map((l) => l.split("\t")[0]),
    ).toEqual(chain.names);
  });

  it("exits 1 naming the files of a fork, 2 without a folder", async () => {
    await mkdir(path.join(root.dir, "fork"));
    const [base, child] = chain.names as [string, string];
    await copyFile(path.join(root.dir, "disk", base), path.join(root.dir, "fork", base));
    await copyFile(path.join(root.dir, "disk", child), path.join(root.dir, "fork", child));
    await copyFile(path.join(root.dir, "disk", child), path.join(root.dir, "fork", "sibling"));
    const [fork, usage] = await Promise.all([
      lifeboat(["chain", "fork", "--json"], { INIT_CWD: root.dir }),
      lifeboat(["chain"], { INIT_CWD: root.dir }),
    ]);
    expect(fork.code).toBe(1);
    expect(fork.stdout).toBe("");
    expect(fork.stderr).toMatch(
      new RegExp(
        `^lifeboat: fork: both (${child} and sibling|sibling and ${child}) have ${base} as backing file\\n$`,
      ),
    );
    expect(usage.code).toBe(2);
  });
});
