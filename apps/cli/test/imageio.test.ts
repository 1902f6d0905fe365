import { statSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImageioTestServer } from "../../../packages/ovirt-core/test/support/imageio-server";
import {
  makeEmptyFile,
  makeGarbageFile,
  makeSparseImage,
  sameBytes,
  tempDir,
} from "../../../packages/ovirt-core/test/support/images";
import { makePki, type TestPki } from "../../../packages/ovirt-core/test/support/pki";
import { lifeboat } from "./support/run-cli";

const MiB = 1024 * 1024;
const SIZE = 32 * MiB;
const DATA = 3 * MiB + 5 * MiB;

let pki: TestPki;
let tmp: ReturnType<typeof tempDir>;
let server: ImageioTestServer;
let source: string;
beforeAll(async () => {
  pki = makePki();
  tmp = tempDir("lifeboat-cli-imageio-");
  source = tmp.file("source.raw");
  await makeSparseImage(source, SIZE, [
    { offset: MiB, length: 3 * MiB },
    { offset: 20 * MiB, length: 5 * MiB },
  ]);
  server = await ImageioTestServer.start(pki);
  await server.addTicket({ id: "read", file: source, ops: ["read"], backend: "nbd" });
  await server.addTicket({ id: "file-backend", file: source, ops: ["read"], backend: "file" });
});
afterAll(async () => {
  await server.close();
  tmp.cleanup();
  pki.cleanup();
});

describe("lifeboat imageio info", () => {
  it("prints OPTIONS and an extents summary", async () => {
    const r = await lifeboat(["imageio", "info", server.url("read"), "--cafile", pki.caFile]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/features:\s+checksum, extents/);
    expect(r.stdout).toMatch(/max readers:\s+8/);
    expect(r.stdout).toMatch(new RegExp(`size:\\s+${SIZE} bytes`));
    expect(r.stdout).toMatch(new RegExp(`data:\\s+${DATA} bytes`));
  });

  it("prints JSON with --json", async () => {
    const r = await lifeboat(["imageio", "info", server.url("read"), "--cafile", pki.caFile, "--json"]);
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
    const out = tmp.file("out.raw");
    const r = await lifeboat([
      "imageio",
      "download",
      server.url("read"),
      out,
      "--cafile",
      pki.caFile,
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
    const out = tmp.file("out-file-backend.raw");
    const r = await lifeboat([
      "imageio",
      "download",
      server.url("file-backend"),
      out,
      "--cafile",
      pki.caFile,
    ]);
    expect(r.code).toBe(0);
    expect(await sameBytes(out, source)).toBe(true);
    expect(statSync(out).blocks * 512).toBeLessThan(DATA + 4 * MiB);
  });

  it("fails with exit 1 and one line naming the server's 403 text when the ticket expired", async () => {
    await server.addTicket({ id: "expired", file: source, ops: ["read"], transferId: "7e7e-expired" });
    server.faults.expired = true;
    try {
      const r = await lifeboat([
        "imageio",
        "download",
        server.url("expired"),
        tmp.file("x.raw"),
        "--cafile",
        pki.caFile,
      ]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/^lifeboat: imageio: 403 .*Transfer=7e7e-expired expired/);
    } finally {
      server.faults.expired = false;
    }
  });

  it("refuses a server the CA did not sign (exit 1), and accepts it with --insecure", async () => {
    const bad = await lifeboat(["imageio", "info", server.url("read"), "--cafile", pki.otherCaFile]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^lifeboat: imageio: .*certificate/i);
    const ok = await lifeboat(["imageio", "info", server.url("read"), "--insecure"]);
    expect(ok.code).toBe(0);
  });
});

describe("lifeboat imageio upload", () => {
  it("uploads a file to the ticket, equal byte for byte", async () => {
    const target = tmp.file("target.raw");
    await makeGarbageFile(target, SIZE);
    await server.addTicket({ id: "write", file: target, ops: ["write"], backend: "nbd" });
    const r = await lifeboat(["imageio", "upload", source, server.url("write"), "--cafile", pki.caFile]);
    expect(r.stderr).toMatch(/^upload: /m);
    expect(r.code).toBe(0);
    expect(await sameBytes(target, source)).toBe(true);
    expect(r.stdout).toContain(`${SIZE} bytes`);
  });

  it("fails with exit 1 on 416 when the file is larger than the ticket", async () => {
    const small = tmp.file("small.raw");
    await makeEmptyFile(small, 4 * MiB);
    await server.addTicket({ id: "small", file: small, ops: ["write"] });
    const r = await lifeboat(["imageio", "upload", source, server.url("small"), "--cafile", pki.caFile]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^lifeboat: imageio: 416 /);
  });

  it("fails with exit 1 when the file does not exist", async () => {
    const r = await lifeboat(["imageio", "upload", tmp.file("nope.raw"), server.url("read"), "--insecure"]);
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
