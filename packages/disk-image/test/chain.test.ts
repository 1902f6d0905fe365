import { copyFile, mkdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ChainError,
  composeChain,
  composeChainFromFolder,
  convertChainToRaw,
  openImageChainFromFile,
  Qcow2Error,
  resolveBackingChain,
} from "../src";
import { buildChain, qemuConvertRaw, qemuImg, sha256File, tempDir } from "./fixtures-qcow2";

const link = (name: string, backingName: string | null) => ({ name, backingName });

describe("composeChain (pure)", () => {
  it("orders layers base → top whatever the input order", () => {
    const layers = [link("c", "b"), link("a", null), link("d", "c"), link("b", "a")];
    expect(composeChain(layers).map((l) => l.name)).toEqual(["a", "b", "c", "d"]);
    expect(composeChain([link("only", null)]).map((l) => l.name)).toEqual(["only"]);
  });

  it("matches path-style backing names on their last component, and files carrying an extension", () => {
    const layers = [
      link("top.qcow2", "/rhev/data-center/mnt/sd/images/img/mid"),
      link("mid.qcow2", "../img/base"),
      link("base.raw", null),
    ];
    expect(composeChain(layers).map((l) => l.name)).toEqual(["base.raw", "mid.qcow2", "top.qcow2"]);
  });

  it("prefers the exact name when both name and name.ext exist", () => {
    const layers = [link("p.qcow2", "c"), link("c", "p"), link("p", "base"), link("base", null)];
    expect(composeChain(layers).map((l) => l.name)).toEqual(["base", "p", "c", "p.qcow2"]);
  });

  it.each([
    ["a missing parent", [link("a", null), link("b", "gone")], /b has backing file "gone", which is missing/],
    [
      "a fork",
      [link("a", null), link("b", "a"), link("c", "a")],
      /fork: both b and c have a as backing file/,
    ],
    ["several bases", [link("a", null), link("b", null), link("c", "a")], /several base layers .*: a, b/],
    ["a loop", [link("a", null), link("b", "c"), link("c", "b")], /loop: (b -> c -> b|c -> b -> c)/],
    ["a self loop", [link("x", "x")], /loop: x -> x/],
    ["a duplicate name", [link("a", null), link("a", null)], /layer a is listed twice/],
    [
      "an ambiguous backing name",
      [link("p.1", null), link("p.2", "p.1"), link("c", "p")],
      /matches several layers: p\.1, p\.2/,
    ],
    ["an empty list", [], /no layer files/],
  ])("refuses %s with a ChainError naming the files", (_what, layers, message) => {
    expect(() => composeChain(layers)).toThrow(ChainError);
    expect(() => composeChain(layers)).toThrow(message);
  });
});

describe("chains from folders of real layers", { timeout: 60_000 }, () => {
  let root: { dir: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    root = await tempDir("lifeboat-chain-");
  }, 120_000);
  afterAll(async () => {
    await root.cleanup();
  });

  it("composes oVirt-style bare-UUID layers (raw base) in order, and errors name a missing parent", async () => {
    const dir = path.join(root.dir, "ovirt");
    await mkdir(dir);
    const c = await buildChain(dir, {
      size: "2M",
      rawBase: { bytes: 2 * 1024 * 1024, fill: (b) => b.fill(0x5a, 0, 4096) },
      layers: [
        { io: ["write -P 0x11 0 64k"] },
        { io: ["write -P 0x22 64k 64k"] },
        { io: ["write -P 0x33 1M 4k"] },
      ],
    });
    const layers = await composeChainFromFolder(dir);
    expect(layers.map((l) => l.name)).toEqual(c.names);
    expect(layers.map((l) => l.format)).toEqual(["raw", "qcow2", "qcow2", "qcow2"]);
    expect(layers[1]).toMatchObject({
      backingName: c.names[0],
      backingFormat: "raw",
      virtualSize: 2 * 1024 * 1024,
    });

    await rename(path.join(dir, c.names[1]!), path.join(root.dir, "moved-away"));
    await expect(composeChainFromFolder(dir)).rejects.toThrow(
      new RegExp(`${c.names[2]} has backing file "${c.names[1]}", which is missing`),
    );
  });

  it("names the file whose header is unreadable", async () => {
    const dir = path.join(root.dir, "corrupt");
    await mkdir(dir);
    const c = await buildChain(dir, { size: "1M", layers: [{}, {}] });
    const bad = Buffer.alloc(512);
    bad.write("QFI\xfb", 0, "latin1");
    bad.writeUInt32BE(3, 4);
    bad.writeUInt32BE(40, 20);
    await writeFile(path.join(dir, "broken-layer"), bad);
    const e = await composeChainFromFolder(dir).catch((x: Error) => x);
    expect(e).toBeInstanceOf(Qcow2Error);
    expect((e as Error).message).toMatch(/^broken-layer: qcow2 cluster_bits/);
    expect(c.names.length).toBe(2);
  });

  it("resolves backing files as qemu does (relative to the referring file's folder) and converts the chain", async () => {
    const dir = path.join(root.dir, "paths");
    await mkdir(path.join(dir, "base-dir"), { recursive: true });
    await mkdir(path.join(dir, "top-dir"));
    await qemuImg(["create", "-f", "qcow2", "base-dir/base.qcow2", "1M"], dir);
    await qemuImg(
      ["create", "-f", "qcow2", "-b", "../base-dir/base.qcow2", "-F", "qcow2", "top-dir/top.qcow2"],
      dir,
    );
    const files = await resolveBackingChain(path.join(dir, "top-dir/top.qcow2"));
    expect(files).toEqual([
      path.join(dir, "top-dir/../base-dir/base.qcow2"),
      path.join(dir, "top-dir/top.qcow2"),
    ]);
    const chain = await openImageChainFromFile(path.join(dir, "top-dir/top.qcow2"));
    try {
      await convertChainToRaw(chain, path.join(dir, "ours.raw"));
    } finally {
      await chain.close();
    }
    await qemuConvertRaw(path.join(dir, "top-dir/top.qcow2"), path.join(dir, "ref.raw"));
    expect(await sha256File(path.join(dir, "ours.raw"))).toBe(await sha256File(path.join(dir, "ref.raw")));
  });

  it("refuses backing loops and missing backing files, naming the files", async () => {
    const dir = path.join(root.dir, "loop");
    await mkdir(dir);
    const c = await buildChain(dir, { size: "1M", layers: [{}, {}] });
    const [a, b] = c.names as [string, string];
    await copyFile(path.join(dir, a), path.join(dir, `${a}.orig`));
    await qemuImg(["rebase", "-u", "-b", b, "-F", "qcow2", a], dir);
    await expect(resolveBackingChain(path.join(dir, b))).rejects.toThrow(
      /backing files form a loop: .* -> .*/,
    );
    await expect(composeChainFromFolder(dir)).rejects.toThrow(ChainError);
    await qemuImg(["rebase", "-u", "-b", "no-such-parent", "-F", "qcow2", a], dir);
    await expect(resolveBackingChain(path.join(dir, b))).rejects.toThrow(
      new RegExp(`${a}: backing file .*no-such-parent cannot be opened \\(ENOENT\\)`),
    );
  });
});
