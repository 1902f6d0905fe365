import { open, stat } from "node:fs/promises";
import path from "node:path";
import { startBackup, startRestoreVm, startVerify } from "@lifeboat/domain";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventsOf, type Stack, simLeftovers, startStack } from "./support/stack";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
  await s.startWorker();
});
afterAll(async () => {
  await s?.stop();
});

async function backup(name: string): Promise<string> {
  const vm = await s.vmRow(name);
  const job = await s.waitJob(
    (await s.run(s.operator, "backup:create", (c) => startBackup(c, c.actor, { vmId: vm.id }))).jobId,
    ["succeeded"],
  );
  return job.restorePointId ?? "";
}

/** Flips one byte in the middle of the first stored chunk of the restore point's base layer; returns its id. */
async function flipAByte(restorePointId: string): Promise<string> {
  const layer = await s.t.db.layer.findFirstOrThrow({
    where: { disk: { restorePointId }, position: 0 },
    orderBy: { disk: { position: "asc" } },
  });
  const manifest = await (await s.repository()).readLayerManifest(layer.manifestId);
  const entry = manifest.entries.find((e): e is { id: string; length: number } => "id" in e);
  if (!entry) throw new Error("the layer holds no data chunk");
  const file = path.join(s.repoDir, "chunks", entry.id.slice(0, 2), entry.id.slice(2, 4), entry.id);
  const fh = await open(file, "r+");
  try {
    const { size } = await fh.stat();
    const at = Math.floor(size / 2);
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, at);
    buf[0] = (buf[0] ?? 0) ^ 0x5a;
    await fh.write(buf, 0, 1, at);
  } finally {
    await fh.close();
  }
  return entry.id;
}

describe("one flipped byte in a chunk", () => {
  it("verify names the chunk and every restore point it breaks; they become failed; restores refuse them", async () => {
    const older = await backup("app01");
    const newer = await backup("app01");
    // Unchanged VM: the second restore point reuses the first one's layers (same chunks).
    const shared = await s.t.db.layer.count({ where: { disk: { restorePointId: newer }, reused: true } });
    expect(shared).toBeGreaterThan(0);
    const chunkId = await flipAByte(newer);

    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startVerify(c, c.actor, { restorePointId: newer }),
    );
    const job = await s.waitJob(jobId, ["failed"]);
    expect(job.error).toContain(chunkId);
    expect(job.error).toContain(newer);
    expect(job.error).toContain(older);
    const result = job.result as {
      badChunks: Array<{ chunkId: string }>;
      restorePointsFailed: Array<{ id: string }>;
    };
    expect(result.badChunks.map((c) => c.chunkId)).toEqual([chunkId]);
    expect(result.restorePointsFailed.map((r) => r.id).sort()).toEqual([newer, older].sort());
    const events = await eventsOf(s, jobId);
    expect(events.some((e) => e.level === "error" && e.message.includes(chunkId))).toBe(true);
    for (const id of [older, newer]) {
      const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id } });
      expect(rp.verifyState).toBe("failed");
      expect(rp.verifyError).toBeTruthy();
      await expect(
        s.run(s.operator, "restore:request", (c) =>
          startRestoreVm(c, c.actor, { restorePointId: id, name: `from-${id.slice(0, 6)}` }),
        ),
      ).rejects.toThrow(/failed verification/);
    }

    // The whole-repository verification finds the same damage and nothing else.
    const whole = await s.t.db.job.create({ data: { type: "verify", teamId: s.teamId } });
    const { getBoss } = await import("@lifeboat/jobs");
    await (await getBoss(s.t.url)).send("verify", { jobId: whole.id });
    const wholeJob = await s.waitJob(whole.id, ["failed"]);
    expect(wholeJob.error).toContain(chunkId);
  });

  it("a restore from a damaged restore point nobody verified yet refuses before touching the engine", async () => {
    const rpId = await backup("web01");
    const before = s.sim.state.vms().length;
    const chunkId = await flipAByte(rpId);
    const started = await s.run(s.operator, "restore:request", (c) =>
      startRestoreVm(c, c.actor, { restorePointId: rpId, name: "web01-from-damaged" }),
    );
    if (started.status !== "queued") throw new Error("the restore waits for approval");
    const job = await s.waitJob(started.jobId, ["failed"]);
    expect(job.error).toMatch(/^Nothing was restored\./);
    expect(job.error).toContain(chunkId);
    expect(s.sim.state.vms()).toHaveLength(before);
    expect(simLeftovers(s.sim)).toEqual([]);
    expect((await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: rpId } })).verifyState).toBe("failed");
  });

  it("an intact restore point verifies ok", async () => {
    const rpId = await backup("db01");
    const { jobId } = await s.run(s.operator, "backup:create", (c) =>
      startVerify(c, c.actor, { restorePointId: rpId }),
    );
    const job = await s.waitJob(jobId, ["succeeded"]);
    expect(job.result).toMatchObject({ ok: true, restorePointsFailed: [] });
    const rp = await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: rpId } });
    expect(rp.verifyState).toBe("ok");
    expect(rp.verifiedAt).toBeTruthy();
  });

  it("verify quarantines the bad chunk: the next backup stores it again, and a later verify finds the old point intact", async () => {
    const older = await backup("db01");
    const chunkId = await flipAByte(older);
    const chunkFile = path.join(s.repoDir, "chunks", chunkId.slice(0, 2), chunkId.slice(2, 4), chunkId);
    const verifyOlder = async (state: "failed" | "succeeded") => {
      const { jobId } = await s.run(s.operator, "backup:create", (c) =>
        startVerify(c, c.actor, { restorePointId: older }),
      );
      return { jobId, job: await s.waitJob(jobId, [state]) };
    };
    const first = await verifyOlder("failed");
    const events = await eventsOf(s, first.jobId);
    expect(
      events.some((e) => e.message.includes(chunkId) && e.message.includes("moved to the quarantine")),
    ).toBe(true);
    await expect(stat(chunkFile)).rejects.toThrow(/ENOENT/);
    await expect(stat(path.join(s.repoDir, "quarantine", chunkId))).resolves.toBeTruthy();

    // The VM is unchanged, but its layer can no longer be reused: the backup downloads it and stores the chunk.
    const newer = await backup("db01");
    const layers = await s.t.db.layer.findMany({ where: { disk: { restorePointId: newer } } });
    expect(layers.some((l) => !l.reused)).toBe(true);
    await expect(stat(chunkFile)).resolves.toBeTruthy();

    await verifyOlder("succeeded");
    expect((await s.t.db.restorePoint.findUniqueOrThrow({ where: { id: older } })).verifyState).toBe("ok");
  });
});
