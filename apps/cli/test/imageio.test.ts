import { statSync } from "node:fs";
import path from "node:path";
import { makeSparseImage, qemuImg, sameBytes, tempDir } from "@lifeboat/disk-image/testing";
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

  it("fails with exit 1 on 416 when the file is larger than the ticket", async () => {
    const small = file("small.raw");
    await makeSparseImage(small, 4 * MiB, []);
    const ticket = await serveImage(sim, { file: small, ops: ["write"] });
    const r = await lifeboat(["imageio", "upload", source, ticket.url, "--cafile", sim.caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lifeboat: imageio: 416 /);
  });

  it("fails with exit 1 when the file does not exist", async () => {
    const r = await lifeboat(["imageio", "upload", file("nope.raw"), read.url, "--insecure"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/nope\.raw: no such file/);
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
