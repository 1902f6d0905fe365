import { copyFile, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import {
  type BuiltChain,
  buildChain,
  qemuConvertRaw,
  qemuImg,
  qemuInfoJson,
  sha256File,
  tempDir,
} from "@lifeboat/disk-image/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

let root: { dir: string; cleanup: () => Promise<void> };
let chain: BuiltChain;
beforeAll(async () => {
  root = await tempDir("lifeboat-cli-qcow2-");
  // oVirt-style: bare UUID names, a raw base, three qcow2 layers with data and zero clusters.
  chain = await buildChain(root.dir, {
    size: "6M",
    rawBase: { bytes: 4 * 1024 * 1024, fill: (b) => b.fill(0x5a, 8192, 300_000) },
    layers: [
      { io: ["write -P 0x11 1M 1M", "write -z 0 64k"] },
      { io: ["write -P 0x22 1536k 64k", "write -z 3M 128k"] },
      { io: ["write -P 0x33 5M 100k"] },
    ],
  });
  await mkdir(path.join(root.dir, "sub"));
  await qemuImg(
    ["create", "-f", "qcow2", "-o", "compat=0.10,cluster_size=4096", "sub/v2-base.qcow2", "1M"],
    root.dir,
  );
  await qemuImg(
    ["create", "-f", "qcow2", "-b", "v2-base.qcow2", "-F", "qcow2", "sub/v3-top.qcow2"],
    root.dir,
  );
});
afterAll(async () => {
  await root.cleanup();
});

const KEYS = [
  "virtual-size",
  "format",
  "cluster-size",
  "backing-filename",
  "full-backing-filename",
  "backing-filename-format",
  "filename",
  "actual-size",
] as const;

describe("lifeboat qcow2 info", () => {
  it("--json equals qemu-img info --output=json on the contract keys for every kind of file", async () => {
    // CLI start-up is the cost here: one file of each kind (v3 on v3, raw, v3 on v2 in a subfolder, v2).
    const files = [
      path.relative(root.dir, chain.top),
      path.relative(root.dir, chain.paths[0]!),
      "sub/v3-top.qcow2",
      "sub/v2-base.qcow2",
    ];
    await Promise.all(
      files.map(async (file) => {
        const r = await lifeboat(["qcow2", "info", file, "--json"], { INIT_CWD: root.dir });
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        const ours = JSON.parse(r.stdout) as Record<string, unknown> & {
          "format-specific"?: { data: object };
        };
        const theirs = await qemuInfoJson(file, root.dir);
        for (const k of KEYS) expect([file, k, ours[k]]).toEqual([file, k, theirs[k]]);
        expect(ours["format-specific"]).toEqual(theirs["format-specific"]);
      }),
    );
  });

  it("prints readable lines without --json", async () => {
    const r = await lifeboat(["qcow2", "info", "sub/v3-top.qcow2"], { INIT_CWD: root.dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("file format: qcow2");
    expect(r.stdout).toContain("virtual size: 1 MiB (1048576 bytes)");
    expect(r.stdout).toContain("backing file: v2-base.qcow2 (actual path: sub/v2-base.qcow2)");
  });

  it("exits 1 with one line naming the file and field for a hostile header, 2 on usage errors", async () => {
    const bad = Buffer.from(await readFile(chain.paths[1]!));
    bad.writeUInt32BE(0xffffffff, 36); // l1_size
    await writeFile(path.join(root.dir, "hostile.qcow2"), bad);
    const [hostile, usage] = await Promise.all([
      lifeboat(["qcow2", "info", "hostile.qcow2", "--json"], { INIT_CWD: root.dir }),
      lifeboat(["qcow2", "info"], { INIT_CWD: root.dir }),
    ]);
    expect(hostile.code).toBe(1);
    expect(hostile.stdout).toBe("");
    expect(hostile.stderr).toMatch(
      /^lifeboat: hostile\.qcow2: qcow2 l1_size: 4294967295 entries exceed .*\n$/,
    );
    expect(usage.code).toBe(2);
  });
});

describe("lifeboat qcow2 convert", () => {
  it("writes the whole chain's guest data as a sparse raw image equal to qemu-img convert -O raw", async () => {
    const r = await lifeboat(["qcow2", "convert", path.relative(root.dir, chain.top), "out.raw"], {
      INIT_CWD: root.dir,
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/out\.raw: 6291456 bytes \(4 layers\)/);
    await qemuConvertRaw(chain.top, path.join(root.dir, "ref.raw"));
    expect(await sha256File(path.join(root.dir, "out.raw"))).toBe(
      await sha256File(path.join(root.dir, "ref.raw")),
    );
    const st = await stat(path.join(root.dir, "out.raw"));
    expect(st.size).toBe(6 * 1024 * 1024);
    expect(Number(st.blocks) * 512).toBeLessThan(st.size / 2);
  });

  it("refuses to overwrite a file of the chain it reads, and reports a missing backing file", async () => {
    const clobber = await lifeboat(
      ["qcow2", "convert", path.relative(root.dir, chain.top), chain.names[1]!],
      {
        INIT_CWD: root.dir,
      },
    );
    expect(clobber.code).toBe(1);
    expect(clobber.stderr).toMatch(/is part of the backing chain/);
    expect(await qemuImg(["check", chain.paths[1]!])).toMatch(/No errors/);
    await mkdir(path.join(root.dir, "orphan"));
    await copyFile(chain.top, path.join(root.dir, "orphan", "top"));
    const orphan = await lifeboat(["qcow2", "convert", "orphan/top", "orphan.raw"], { INIT_CWD: root.dir });
    expect(orphan.code).toBe(1);
    expect(orphan.stderr).toMatch(
      new RegExp(
        `^lifeboat: \\S*orphan/top: backing file \\S*orphan/${chain.names[2]} cannot be opened \\(ENOENT\\)\\n$`,
      ),
    );
  });
});
