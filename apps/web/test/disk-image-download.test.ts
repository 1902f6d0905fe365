import { execFileSync } from "node:child_process";
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { appRouter, createCallerFactory, createContext } from "@lifeboat/api";
import { createTestApi } from "@lifeboat/api/testing";
import { sealSecret } from "@lifeboat/config";
import { createTestDatabase, type TestDatabase } from "@lifeboat/db/testing";
import { openImageDownload, recomputeVmTeams, recordBackup, withEngine } from "@lifeboat/domain";
import { stopBosses } from "@lifeboat/jobs";
import { backupVm, backupVmWithBackupApi } from "@lifeboat/ovirt-core";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { openRepository, type Repository } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, inject, it, vi } from "vitest";
import { serveDiskImage } from "../src/server/disk-image-download";

/**
 * Disk image download (GET /api/images/<restorePoint>/<disk>?format=raw|qcow2) over real HTTP, from a real backup
 * of the simulated engine's web01 in a real repository: the raw image equals the guest's bytes, the qcow2 image is
 * the same disk to qemu-img, every Range answer is the matching slice of the full file (206), an unsatisfiable
 * range is 416, several ranges or none get everything (200); anonymous callers get 401, roles without
 * image:download 403, other teams 404, and a team that requires approval gets 403 until another approver
 * approved the request.
 */

let t: TestDatabase;
let api: ReturnType<typeof createTestApi>;
let sim: Simulator;
let engineId: string;
const encryptionKey = randomBytes(32);
let repository: Repository;
let dir: string;
let server: http.Server;
let base: string;
let teamId: string;
let otherTeam: string;
let rpId: string;
let diskId: string;
let virtualSize: number;
const cookies: Record<string, string> = {};

async function person(email: string, team: string, role: string): Promise<string> {
  const u = await api.createUser({ email, name: email.split("@")[0] });
  await t.db.membership.create({ data: { id: randomUUID(), teamId: team, userId: u.id, role } });
  const headers = await api.signIn(u.email, u.password);
  return headers.get("cookie") ?? "";
}

/** The images opened by the responder, with the streams read from them (to see that they end). */
const opened: Array<{ closed: boolean; streams: Readable[] }> = [];

/** What the Pages API route does (pages/api/images/[restorePointId]/[diskId].ts), on a plain Node server. */
function startServer(): Promise<void> {
  const createCaller = createCallerFactory(appRouter);
  server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const [, , rp = "", disk = ""] = url.pathname.split("/");
    const headers = new Headers(
      Object.entries(req.headers).map(([k, v]): [string, string] => [k, String(v)]),
    );
    const ctx = await createContext({
      db: t.db,
      auth: api.auth,
      queue: api.queue,
      headers,
      config: api.config,
    });
    const caller = createCaller(ctx);
    await serveDiskImage(req, res, {
      ctx,
      access: (input) => caller.restorePoints.downloadAccess(input),
      restorePointId: decodeURIComponent(rp),
      diskId: decodeURIComponent(disk),
      format: url.searchParams.get("format") ?? undefined,
      repository: async () => repository,
      async open(repo, access, format) {
        const image = await openImageDownload(repo, access, format);
        const seen = { closed: false, streams: [] as Readable[] };
        opened.push(seen);
        return {
          ...image,
          read(start, end) {
            const stream = image.read(start, end);
            seen.streams.push(stream);
            return stream;
          },
          async close() {
            seen.closed = true;
            await image.close();
          },
        };
      },
    });
  });
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r()));
}

function get(
  who: string | null,
  query: string,
  headers: Record<string, string> = {},
  method = "GET",
  target = `${rpId}/${diskId}`,
) {
  return fetch(`${base}/images/${target}${query}`, {
    method,
    headers: { ...headers, ...(who ? { cookie: cookies[who] ?? "" } : {}) },
  });
}

async function saveTo(res: Response, file: string): Promise<void> {
  if (!res.body) throw new Error("no body");
  await pipeline(
    Readable.fromWeb(res.body as import("node:stream/web").ReadableStream),
    createWriteStream(file),
  );
}

async function slice(file: string, start: number, end: number): Promise<Buffer> {
  const fh = await open(file, "r");
  try {
    const buf = Buffer.alloc(end - start + 1);
    await fh.read(buf, 0, buf.length, start);
    return buf;
  } finally {
    await fh.close();
  }
}

beforeAll(async () => {
  t = await createTestDatabase(inject("testDatabase"));
  api = createTestApi(t.db, t.url);
  dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-images-"));
  sim = await startSimulator({
    dataDir: path.join(dir, "sim"),
    seed: true,
    seedScale: "small",
    asyncDelayMs: 30,
    transferPollMs: 30,
  });
  engineId = (
    await t.db.engine.create({
      data: {
        name: "Simulated engine",
        apiUrl: sim.engineUrl,
        username: sim.adminUser,
        secretSealed: sealSecret(sim.adminPassword, encryptionKey),
        caPem: sim.caPem,
        simulated: true,
      },
    })
  ).id;
  repository = await openRepository(path.join(dir, "repo"), { create: true });
  teamId = randomUUID();
  otherTeam = randomUUID();
  await t.db.team.create({ data: { id: teamId, name: "Web", slug: "web" } });
  await t.db.team.create({ data: { id: otherTeam, name: "Other", slug: "other" } });
  await t.db.teamVmRule.create({ data: { teamId, kind: "name-pattern", pattern: "web*" } });
  const simWeb = sim.state.vm("web01");
  if (!simWeb) throw new Error("no web01");
  const vm = await t.db.vm.create({ data: { engineId, vmId: simWeb.id, name: "web01" } });
  await recomputeVmTeams(t.db);
  const result = await withEngine(
    t.db,
    engineId,
    ({ engine, imageio }) =>
      backupVm({
        engine,
        imageio,
        vmId: simWeb.id,
        repository,
        restorePointId: randomUUID(),
        jobRef: "image test",
      }),
    { encryptionKey },
  );
  rpId = await t.db.$transaction((tx) =>
    recordBackup(tx, { vm, result, jobId: randomUUID(), description: "", tags: [] }),
  );
  const disk = result.disks[0];
  if (!disk) throw new Error("no disk");
  diskId = disk.diskId;
  virtualSize = disk.provisionedSize;
  cookies.operator = await person("operator@images.test", teamId, "operator");
  cookies.viewer = await person("viewer@images.test", teamId, "viewer");
  cookies.approver = await person("approver@images.test", teamId, "approver");
  cookies.stranger = await person("stranger@images.test", otherTeam, "operator");
  await startServer();
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await new Promise((r) => server?.close(r));
  await stopBosses();
  await sim?.stop();
  await t.drop();
  await rm(dir, { recursive: true, force: true });
});

describe("raw and qcow2 images", () => {
  it("streams the raw disk: the guest's bytes, with a safe file name", async () => {
    const res = await get("operator", "?format=raw");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(virtualSize));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("content-disposition")).toMatch(
      /^attachment; filename="web01_web01_Disk1_[0-9-]+\.img"$/,
    );
    const file = path.join(dir, "full.img");
    await saveTo(res, file);
    const bytes = await readFile(file);
    expect(bytes.length).toBe(virtualSize);
    for (const [offset, length] of [
      [0, 65536],
      [1024 * 1024 - 100, 300],
      [virtualSize - 4096, 4096],
    ] as const)
      expect(
        bytes.subarray(offset, offset + length).equals(await sim.guest.read(diskId, offset, length)),
      ).toBe(true);
  });

  it("streams a standalone qcow2 that qemu-img reads as the same disk", async () => {
    const res = await get("operator", "?format=qcow2");
    expect(res.status).toBe(200);
    const file = path.join(dir, "full.qcow2");
    await saveTo(res, file);
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" }),
    ) as {
      format: string;
      "virtual-size": number;
      "backing-filename"?: string;
    };
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(virtualSize);
    expect(info["backing-filename"]).toBeUndefined();
    execFileSync("qemu-img", ["check", file]);
    // Exit status 0: identical guest contents.
    execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", path.join(dir, "full.img"), file]);
  });

  it("answers HEAD with the size only", async () => {
    const res = await get("operator", "?format=qcow2", {}, "HEAD");
    expect(res.status).toBe(200);
    const size = (await readFile(path.join(dir, "full.qcow2"))).length;
    expect(res.headers.get("content-length")).toBe(String(size));
    expect(await res.text()).toBe("");
  });
});

describe("HTTP Range", () => {
  it("answers a single range with 206 and exactly that slice of the full file", async () => {
    for (const [format, file] of [
      ["raw", "full.img"],
      ["qcow2", "full.qcow2"],
    ] as const) {
      const full = path.join(dir, file);
      const size = (await readFile(full)).length;
      const cases: Array<[string, number, number]> = [
        ["bytes=0-1023", 0, 1023],
        ["bytes=65530-200000", 65530, 200000],
        [`bytes=${size - 10}-`, size - 10, size - 1],
        ["bytes=-4096", size - 4096, size - 1],
        [`bytes=${size - 5}-${size + 1000}`, size - 5, size - 1],
      ];
      for (const [range, start, end] of cases) {
        const res = await get("operator", `?format=${format}`, { range });
        expect(res.status, `${format} ${range}`).toBe(206);
        expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${size}`);
        expect(res.headers.get("content-length")).toBe(String(end - start + 1));
        const body = Buffer.from(await res.arrayBuffer());
        expect(body.equals(await slice(full, start, end)), `${format} ${range}`).toBe(true);
      }
    }
  });

  it("answers an unsatisfiable range with 416 and the size", async () => {
    for (const range of [`bytes=${virtualSize}-`, "bytes=-0"]) {
      const res = await get("operator", "?format=raw", { range });
      expect(res.status).toBe(416);
      expect(res.headers.get("content-range")).toBe(`bytes */${virtualSize}`);
    }
  });

  it("sends everything (200) for several ranges, a malformed one, or an If-Range of another image", async () => {
    const variants: Array<Record<string, string>> = [
      { range: "bytes=0-10,20-30" },
      { range: "pages=1-2" },
      { range: "bytes=0-10", "if-range": '"something-else"' },
    ];
    for (const headers of variants) {
      const res = await get("operator", "?format=raw", headers);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-length")).toBe(String(virtualSize));
      await res.body?.cancel();
    }
    const etag = (await get("operator", "?format=raw", {}, "HEAD")).headers.get("etag") ?? "";
    const resumed = await get("operator", "?format=raw", { range: "bytes=10-19", "if-range": etag });
    expect(resumed.status).toBe(206);
    expect(
      Buffer.from(await resumed.arrayBuffer()).equals(await slice(path.join(dir, "full.img"), 10, 19)),
    ).toBe(true);
  });

  it("records each download in the audit log with its range", async () => {
    const rows = await t.db.auditEvent.findMany({ where: { action: "image.download", outcome: "success" } });
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.some((r) => (r.details as { range?: string } | null)?.range === "0-1023")).toBe(true);
    expect(rows.every((r) => r.teamId === teamId && r.targetId === rpId)).toBe(true);
  });
});

describe("a client that goes away", () => {
  it("ends the export stream and closes the image, with no uncaught error and nothing logged", async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    process.on("unhandledRejection", onUncaught);
    const logged = vi.spyOn(console, "error");
    try {
      for (const headers of [{}, { range: "bytes=4096-" }] as Array<Record<string, string>>) {
        const before = opened.length;
        const abort = new AbortController();
        const res = await fetch(`${base}/images/${rpId}/${diskId}?format=qcow2`, {
          headers: { ...headers, cookie: cookies.operator ?? "" },
          signal: abort.signal,
        });
        expect(res.status).toBe(Object.keys(headers).length ? 206 : 200);
        expect(Number(res.headers.get("content-length"))).toBeGreaterThan(0);
        // Aborted right after the headers: the body is far from sent.
        abort.abort();
        await res.body?.cancel().catch(() => undefined);
        const seen = opened[before];
        if (!seen) throw new Error("the image was not opened");
        for (let i = 0; i < 100 && !seen.closed; i++) await new Promise((r) => setTimeout(r, 50));
        expect(seen.closed).toBe(true);
        expect(seen.streams.length).toBe(1);
        expect(seen.streams.every((st) => st.destroyed)).toBe(true);
      }
      // Anything thrown late (a write into a closed stream) would surface within a tick or two.
      await new Promise((r) => setTimeout(r, 200));
      expect(uncaught).toEqual([]);
      expect(logged).not.toHaveBeenCalled();
    } finally {
      process.off("uncaughtException", onUncaught);
      process.off("unhandledRejection", onUncaught);
      logged.mockRestore();
    }
    // The server is still fine.
    const res = await get("operator", "?format=raw", { range: "bytes=0-9" });
    expect(res.status).toBe(206);
    expect(Buffer.from(await res.arrayBuffer()).equals(await slice(path.join(dir, "full.img"), 0, 9))).toBe(
      true,
    );
  });
});

describe("who may download", () => {
  it("refuses anonymous callers (401), roles without image:download (403), other teams (404), bad formats (400)", async () => {
    expect((await get(null, "")).status).toBe(401);
    expect((await get("viewer", "")).status).toBe(403);
    expect((await get("stranger", "")).status).toBe(404);
    expect((await get("operator", "", {}, "GET", `${rpId}/no-such-disk`)).status).toBe(404);
    expect((await get("operator", "", {}, "GET", `${randomUUID()}/${diskId}`)).status).toBe(404);
    expect((await get("operator", "?format=vmdk")).status).toBe(400);
    const denied = await t.db.auditEvent.count({ where: { action: "image.download", outcome: "denied" } });
    expect(denied).toBeGreaterThanOrEqual(3);
  });

  it("waits for another approver when the team requires approval for downloads", async () => {
    await t.db.team.update({ where: { id: teamId }, data: { requireApprovalForDownloads: true } });
    const before = await get("operator", "");
    expect(before.status).toBe(403);
    expect(await before.text()).toMatch(/requires an approval/);
    const operatorHeaders = new Headers({ cookie: cookies.operator ?? "" });
    const operator = await api.caller(operatorHeaders);
    const requested = await operator.restorePoints.requestDownload({
      restorePointId: rpId,
      diskId,
      reason: "forensics",
    });
    expect(requested.status).toBe("pending");
    // Asking again does not file a second request.
    const again = await operator.restorePoints.requestDownload({
      restorePointId: rpId,
      diskId,
      reason: "again",
    });
    expect(again.approvalRequestId).toBe(requested.approvalRequestId);
    expect(await (await get("operator", "")).text()).toMatch(/waits for another approver/);
    const approver = await api.caller(new Headers({ cookie: cookies.approver ?? "" }));
    await approver.approvals.approve({ id: requested.approvalRequestId ?? "", comment: "ok" });
    const access = await operator.restorePoints.downloadAccess({ restorePointId: rpId, diskId });
    expect(access.allowed).toBe(true);
    expect(access.approval.validUntil?.getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    const after = await get("operator", "", { range: "bytes=0-99" });
    expect(after.status).toBe(206);
    expect(
      createHash("sha256")
        .update(Buffer.from(await after.arrayBuffer()))
        .digest("hex"),
    ).toBe(
      createHash("sha256")
        .update(await slice(path.join(dir, "full.img"), 0, 99))
        .digest("hex"),
    );
    await t.db.team.update({ where: { id: teamId }, data: { requireApprovalForDownloads: false } });
  });
});

// Last: it adds a restore point and a guest write the tests above do not expect.
describe("backup-API restore points", () => {
  it("streams a backup-API point's disk (raw guest data layers) as raw and as qcow2, both the guest's bytes", async () => {
    const simWeb = sim.state.vm("web01");
    const vm = await t.db.vm.findFirstOrThrow({ where: { engineId, name: "web01" } });
    // The simulator's default level already offers the backup API; say it, the test depends on it.
    sim.setClusterLevel("Default", "4.7");
    // A guest write after the snapshot-chain point, so that this point's image differs from that one's.
    await sim.guest.writeAt(diskId, 3 * 1024 * 1024, randomBytes(64 * 1024));
    const result = await withEngine(
      t.db,
      engineId,
      ({ engine, imageio }) =>
        backupVmWithBackupApi({
          engine,
          imageio,
          vmId: simWeb?.id ?? "",
          repository,
          restorePointId: randomUUID(),
          jobRef: "image test (backup API)",
        }),
      { encryptionKey },
    );
    expect(result.mode).toBe("full");
    const apiPoint = await t.db.$transaction((tx) =>
      recordBackup(tx, { vm, result, jobId: randomUUID(), description: "", tags: [] }),
    );
    const raw = await get("operator", "?format=raw", {}, "GET", `${apiPoint}/${diskId}`);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-length")).toBe(String(virtualSize));
    const rawFile = path.join(dir, "api.img");
    await saveTo(raw, rawFile);
    const guest = await sim.guest.read(diskId, 0, virtualSize);
    expect(
      createHash("sha256")
        .update(await readFile(rawFile))
        .digest("hex"),
    ).toBe(createHash("sha256").update(guest).digest("hex"));
    const qcow2 = await get("operator", "?format=qcow2", {}, "GET", `${apiPoint}/${diskId}`);
    expect(qcow2.status).toBe(200);
    const qcow2File = path.join(dir, "api.qcow2");
    await saveTo(qcow2, qcow2File);
    execFileSync("qemu-img", ["check", qcow2File]);
    execFileSync("qemu-img", ["compare", "-f", "raw", "-F", "qcow2", rawFile, qcow2File]);
  });
});
