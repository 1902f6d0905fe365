import { statSync } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import {
  makeEmptyFile,
  makeGarbageFile,
  makeSparseImage,
  qemuImg,
  qemuIo,
  qemuSupportsZstd,
  sameBytes,
  sha256File,
  tempDir,
} from "@lifeboat/disk-image/testing";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { expireTicket, makeUnrelatedCa, type ServedImage, serveImage } from "@lifeboat/ovirt-sim/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

/**
 * `lifeboat imageio` against the simulated daemon, over tickets served straight from test images: NBD over a
 * qcow2 copy of the raw source (its data and zero extents), the file backend over the raw file itself.
 */
const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const DATA = 3 * MiB + 5 * MiB;

let tmp: { dir: string; cleanup: () => Promise<void> };
const file = (name: string) => path.join(tmp.dir, name);
let sim: Simulator;
let source: string;
let read: ServedImage;
let fileBackend: ServedImage;
let otherCaFile: string;
beforeAll(async () => {
  tmp = await tempDir("lifeboat-cli-imageio-");
  source = file("source.raw");
  await makeSparseImage(source, SIZE, [
    { offset: MiB, length: 3 * MiB },
    { offset: 20 * MiB, length: 5 * MiB },
  ]);
  const qcow2 = file("source.qcow2");
  await qemuImg(["convert", "-f", "raw", "-O", "qcow2", source, qcow2]);
  sim = await startSimulator({ dataDir: file("sim"), seed: false });
  read = await serveImage(sim, { file: qcow2, format: "qcow2", ops: ["read"], backend: "nbd" });
  fileBackend = await serveImage(sim, { file: source, ops: ["read"] });
  otherCaFile = makeUnrelatedCa(file("other-ca")).caFile;
});
afterAll(async () => {
  await sim.stop();
  await tmp.cleanup();
});

describe("lifeboat imageio info", () => {
  it("prints OPTIONS and an extents summary", async () => {
    const r = await lifeboat(["imageio", "info", read.url, "--cafile", sim.caFile]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/features:\s+checksum, extents/);
    expect(r.stdout).toMatch(/max readers:\s+8/);
    expect(r.stdout).toMatch(new RegExp(`size:\\s+${SIZE} bytes`));
    expect(r.stdout).toMatch(new RegExp(`data:\\s+${DATA} bytes`));
  });

  it("prints JSON with --json", async () => {
    const r = await lifeboat(["imageio", "info", read.url, "--cafile", sim.caFile, "--json"]);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { size: number; maxWriters: number; extents: Record<string, number> };
    expect(j.size).toBe(SIZE);
    expect(j.extents.dataBytes).toBe(DATA);
    expect(j.extents.zeroBytes).toBe(SIZE - DATA);
    expect(j.extents.count).toBe(5);
  });
});

describe("lifeboat imageio download", () => {
  it("downloads the ticket into a sparse file equal to the source, progress on stderr", async () => {
    const out = file("out.raw");
    const r = await lifeboat([
      "imageio",
      "download",
      read.url,
      out,
      "--cafile",
      sim.caFile,
      "--workers",
      "3",
    ]);
    expect(r.code).toBe(0);
    expect(await sameBytes(out, source)).toBe(true);
    expect(r.stderr).toMatch(/^download: 100\.0% /m);
    expect(r.stdout).toContain(`${SIZE} bytes`);
    // Zero ranges were not written.
    expect(statSync(out).blocks * 512).toBeLessThan(DATA + 4 * MiB);
  });

  it("keeps all-zero blocks sparse even when the server reports one data extent", async () => {
    const out = file("out-file-backend.raw");
    const r = await lifeboat(["imageio", "download", fileBackend.url, out, "--cafile", sim.caFile]);
    expect(r.code).toBe(0);
    expect(await sameBytes(out, source)).toBe(true);
    expect(statSync(out).blocks * 512).toBeLessThan(DATA + 4 * MiB);
  });

  it("fails with exit 1 and one line naming the server's 403 text when the ticket expired", async () => {
    const expired = await serveImage(sim, { file: source, ops: ["read"], transferId: "7e7e-expired" });
    expireTicket(sim, expired.id);
    const r = await lifeboat(["imageio", "download", expired.url, file("x.raw"), "--cafile", sim.caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^lifeboat: imageio: 403 .*Transfer=7e7e-expired expired/);
  });

  it("refuses a server the CA did not sign (exit 1), and accepts it with --insecure", async () => {
    const bad = await lifeboat(["imageio", "info", read.url, "--cafile", otherCaFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lifeboat: imageio: .*certificate/i);
    const ok = await lifeboat(["imageio", "info", read.url, "--insecure"]);
    expect(ok.code).toBe(0);
  });
});

describe("lifeboat imageio upload", () => {
  it("uploads a file to the ticket, equal byte for byte", async () => {
    const target = file("target.raw");
    await makeSparseImage(target, SIZE, [{ offset: 0, length: SIZE, fill: 0xa5 }]);
    const write = await serveImage(sim, { file: target, ops: ["write"], backend: "nbd" });
    const r = await lifeboat(["imageio", "upload", source, write.url, "--cafile", sim.caFile]);
    expect(r.stderr).toMatch(/^upload: /m);
    expect(r.code).toBe(0);
    expect(await sameBytes(target, source)).toBe(true);
    expect(r.stdout).toContain(`${SIZE} bytes`);
  });

  it("refuses a file larger than the ticket before writing a byte, naming both sizes", async () => {
    const small = file("small.raw");
    await makeGarbageFile(small, 4 * MiB);
    const before = await sha256File(small);
    const ticket = await serveImage(sim, { file: small, ops: ["write"] });
    const r = await lifeboat(["imageio", "upload", source, ticket.url, "--cafile", sim.caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `lifeboat: imageio: upload refused: ${source}: its size is ${SIZE} bytes (32.0 MiB), but the ticket takes at most ${4 * MiB} bytes (4.0 MiB)`,
    );
    expect(await sha256File(small)).toBe(before);
  });

  it("fails with exit 1 when the file does not exist", async () => {
    const r = await lifeboat(["imageio", "upload", file("nope.raw"), read.url, "--insecure"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.raw: no such file/);
  });
});

describe("lifeboat imageio upload of qcow2 images", () => {
  /** A two-layer chain: a compressed base (zstd where qemu-img can, else zlib) and a top that overwrites and zeroes. */
  let chain: { top: string; guest: string };
  beforeAll(async () => {
    const dir = file("chain");
    await fs.mkdir(dir);
    const compression = qemuSupportsZstd() ? ["-o", "compression_type=zstd"] : [];
    await qemuImg(["convert", "-c", "-f", "raw", "-O", "qcow2", ...compression, source, "base.qcow2"], dir);
    await qemuImg(["create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "top.qcow2"], dir);
    await qemuIo(path.join(dir, "top.qcow2"), [
      `write -P 0x5c ${2 * MiB} ${MiB}`,
      `write -z ${21 * MiB} ${MiB}`,
      `write -P 0x3e ${30 * MiB} ${64 * 1024}`,
    ]);
    chain = { top: path.join(dir, "top.qcow2"), guest: path.join(dir, "guest.raw") };
    await qemuImg(["convert", "-f", "qcow2", "-O", "raw", chain.top, chain.guest]);
  });

  it.each(["file", "nbd"] as const)(
    "sends a qcow2 chain's guest data to a raw ticket (%s backend), overwriting what the target held",
    async (backend) => {
      const target = file(`guest-${backend}.raw`);
      await makeGarbageFile(target, SIZE);
      const write = await serveImage(sim, { file: target, ops: ["write"], backend });
      const r = await lifeboat(["imageio", "upload", chain.top, write.url, "--cafile", sim.caFile]);
      expect(r.stderr).not.toMatch(/lifeboat:/);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`${SIZE} bytes of guest data`);
      await qemuImg(["compare", "-f", "raw", "-F", "raw", target, chain.guest]);
    },
  );

  it("refuses a qcow2 image whose virtual size is larger than the ticket, target untouched", async () => {
    const target = file("guest-small.raw");
    await makeGarbageFile(target, 16 * MiB);
    const before = await sha256File(target);
    const write = await serveImage(sim, { file: target, ops: ["write"], backend: "nbd" });
    const r = await lifeboat(["imageio", "upload", chain.top, write.url, "--cafile", sim.caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `its virtual size is ${SIZE} bytes (32.0 MiB), but the ticket takes at most ${16 * MiB} bytes (16.0 MiB)`,
    );
    expect(await sha256File(target)).toBe(before);
  });

  it("sends a qcow2 file's bytes as they are with --transfer-format cow, and refuses one the ticket cannot hold", async () => {
    const qcow2 = file("chain/base.qcow2");
    const fileSize = (await fs.stat(qcow2)).size;
    const target = file("volume.qcow2");
    await fs.writeFile(target, "");
    // A cow volume's upload ticket is larger than the qcow2 file: the engine adds an allowance (ref §5.11).
    const roomy = await serveImage(sim, { file: target, ops: ["write"], size: fileSize + MiB });
    const ok = await lifeboat([
      ...["imageio", "upload", qcow2, roomy.url, "--cafile", sim.caFile, "--transfer-format", "cow"],
    ]);
    expect(ok.stderr).not.toMatch(/lifeboat:/);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${fileSize} bytes,`);
    expect(await sameBytes(target, qcow2)).toBe(true);

    const tight = file("tight.qcow2");
    await fs.writeFile(tight, "");
    const small = await serveImage(sim, { file: tight, ops: ["write"], size: fileSize - 4096 });
    const refused = await lifeboat([
      ...["imageio", "upload", qcow2, small.url, "--cafile", sim.caFile, "--transfer-format", "cow"],
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`its qcow2 file size is ${fileSize} bytes`);
    expect((await fs.stat(tight)).size).toBe(0);

    const raw = await lifeboat([
      ...["imageio", "upload", source, roomy.url, "--cafile", sim.caFile, "--transfer-format", "cow"],
    ]);
    expect(raw.code).toBe(1);
    expect(raw.stderr).toMatch(
      /is a raw image, but the ticket takes a qcow2 volume's bytes \(transfer format cow\)/,
    );
    expect(await sameBytes(target, qcow2)).toBe(true);
  });

  it("sends a qcow2 file's bytes as raw data when --format raw says so", async () => {
    const qcow2 = file("chain/base.qcow2");
    const target = file("raw-of-qcow2.raw");
    await makeEmptyFile(target, (await fs.stat(qcow2)).size);
    const write = await serveImage(sim, { file: target, ops: ["write"], backend: "nbd" });
    const r = await lifeboat([
      "imageio",
      "upload",
      qcow2,
      write.url,
      "--cafile",
      sim.caFile,
      "--format",
      "raw",
    ]);
    expect(r.code).toBe(0);
    expect(await sameBytes(target, qcow2)).toBe(true);
    const bad = await lifeboat(["imageio", "upload", qcow2, write.url, "--insecure", "--format", "vmdk"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--format must be one of raw, qcow2");
  });
});

describe("usage errors", () => {
  it("exit 2 for a bad URL, missing arguments, bad --workers, an unreadable --cafile, --cafile with --insecure", async () => {
    const url = "https://127.0.0.1:1/images/t";
    const cases = [
      ["imageio", "info", "not-a-url"],
      ["imageio", "download", url],
      ["imageio", "download", url, "out", "--workers", "0"],
      ["imageio", "info", url, "--cafile", "/no/such/ca.pem"],
      ["imageio", "info", url, "--cafile", "x", "--insecure"],
    ];
    const results = await Promise.all(cases.map((args) => lifeboat(args)));
    expect(results.map((r) => r.code)).toEqual(cases.map(() => 2));
  });
});
