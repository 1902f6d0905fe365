import type { ImageTransferPhase } from "@lifeboat/ovirt-protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ManualClock } from "../src/index";
import { addDisk, finalize, startTransfer, waitPhase } from "./support/flows";
import { io, type Json, startTestSim, type TestSim } from "./support/sim";

const MiB = 1024 * 1024;
const clock = new ManualClock();
let t: TestSim;

beforeAll(async () => {
  t = await startTestSim({ clock, finishedTransferTtlMs: 60_000 });
});
afterAll(async () => {
  await t.stop();
});

const newDisk = (name: string): Promise<Json> =>
  addDisk(t.api, {
    name,
    provisioned_size: String(MiB),
    format: "raw",
    sparse: "true",
    storage_domains: { storage_domain: [{ name: "data1" }] },
  });

/** Collects every phase a transfer goes through until `until`. */
async function phasesUntil(id: string, until: string[]): Promise<string[]> {
  const seen: string[] = [];
  await t.api.waitFor(`/imagetransfers/${id}`, (j) => {
    if (seen[seen.length - 1] !== j.phase) seen.push(j.phase);
    return until.includes(j.phase);
  });
  return seen;
}

describe("transfer phase machine: inactivity per timeout_policy", () => {
  const cases: Array<[string, "upload" | "download", ImageTransferPhase, string[]]> = [
    ["legacy", "download", "cancelled_system", ["finished_failure"]],
    ["legacy", "upload", "paused_system", ["paused_system"]],
    ["pause", "download", "paused_system", ["paused_system"]],
    ["cancel", "upload", "cancelled_system", ["finished_failure"]],
  ];
  for (const [policy, direction, first, end] of cases) {
    it(`${policy} policy, ${direction}: idle past inactivity_timeout → ${first}`, async () => {
      const disk = await newDisk(`idle-${policy}-${direction}`);
      const tr = await startTransfer(t.api, {
        direction,
        disk: { id: disk.id },
        inactivity_timeout: "5",
        timeout_policy: policy,
      });
      expect(tr.inactivity_timeout).toBe("5");
      expect(tr.timeout_policy).toBe(policy);
      // Activity keeps it alive.
      clock.advance(4_000);
      expect((await io(t.api.agent, "OPTIONS", tr.transfer_url)).status).toBe(200);
      clock.advance(4_000);
      await new Promise((r) => setTimeout(r, 150));
      expect((await t.api.ok(`/imagetransfers/${tr.id}`)).phase).toBe("transferring");
      // Held in the first phase it reaches, so a busy machine's slow poll cannot miss it.
      const held = t.sim.faults.holdTransfer({ phase: first, transferId: tr.id });
      clock.advance(2_000);
      expect(await phasesUntil(tr.id, [first])).toContain(first);
      held.remove();
      const seen = await phasesUntil(tr.id, end);
      expect(seen.at(-1)).toBe(end.at(-1));
      const r = await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } });
      expect(r.status).toBe(403);
      if (direction === "upload" && end.includes("finished_failure"))
        await t.api.waitFor(`/disks/${disk.id}`, (_j, status) => status === 404);
      if (direction === "download")
        expect((await t.api.ok(`/disks/${disk.id}`)).status).toBe(
          first === "paused_system" ? "locked" : "ok",
        );
      if (end.includes("paused_system")) {
        // A paused transfer resumes with a fresh ticket, then finishes.
        expect((await t.api.post(`/imagetransfers/${tr.id}/resume`, {})).status).toBe(200);
        await waitPhase(t.api, tr.id, ["transferring"]);
        expect(
          (await io(t.api.agent, "GET", tr.transfer_url, { headers: { range: "bytes=0-0" } })).status,
        ).toBe(206);
        expect((await finalize(t.api, tr.id)).phase).toBe("finished_success");
      }
    });
  }

  it("treats inactivity_timeout 0 as no limit", async () => {
    const disk = await newDisk("no-idle");
    const tr = await startTransfer(t.api, {
      direction: "download",
      disk: { id: disk.id },
      inactivity_timeout: "0",
    });
    clock.advance(3_600_000);
    await new Promise((r) => setTimeout(r, 150));
    expect((await t.api.ok(`/imagetransfers/${tr.id}`)).phase).toBe("transferring");
    await finalize(t.api, tr.id);
  });
});

describe("transfer phase machine: actions and retention", () => {
  it("pauses and resumes (paused_user → resuming → transferring), refuses finalize while initializing", async () => {
    const disk = await newDisk("pausing");
    const hold = t.sim.faults.holdTransfer({ phase: "initializing" });
    const add = await t.api.post("/imagetransfers", { direction: "download", disk: { id: disk.id } });
    const early = await t.api.post(`/imagetransfers/${add.json.id}/finalize`, {});
    expect(early.status).toBe(409);
    hold.remove();
    await waitPhase(t.api, add.json.id, ["transferring"]);
    expect((await t.api.post(`/imagetransfers/${add.json.id}/pause`, {})).json).toEqual({
      status: "complete",
    });
    expect((await t.api.ok(`/imagetransfers/${add.json.id}`)).phase).toBe("paused_user");
    expect((await t.api.post(`/imagetransfers/${add.json.id}/pause`, {})).status).toBe(409);
    // Held in resuming, so a busy machine's slow poll cannot miss the phase.
    const resuming = t.sim.faults.holdTransfer({ phase: "resuming", transferId: add.json.id });
    await t.api.post(`/imagetransfers/${add.json.id}/resume`, {});
    expect((await t.api.ok(`/imagetransfers/${add.json.id}`)).phase).toBe("resuming");
    resuming.remove();
    const seen = await phasesUntil(add.json.id, ["transferring"]);
    expect(seen.at(-1)).toBe("transferring");
    // A second transfer on a locked disk is refused with the engine's words.
    const second = await t.api.post("/imagetransfers", { direction: "download", disk: { id: disk.id } });
    expect(second.status).toBe(409);
    expect(second.json.detail).toBe("[Cannot transfer Virtual Disk. Disk pausing is being transferred.]");
    await finalize(t.api, add.json.id);
  });

  it("keeps finished transfers for a while, then removes them", async () => {
    const disk = await newDisk("retained");
    const tr = await startTransfer(t.api, { direction: "download", disk: { id: disk.id } });
    await finalize(t.api, tr.id);
    await new Promise((r) => setTimeout(r, 150));
    expect((await t.api.get(`/imagetransfers/${tr.id}`)).status).toBe(200);
    clock.advance(61_000);
    await t.api.waitFor(`/imagetransfers/${tr.id}`, (_j, status) => status === 404);
  });
});

describe("legacy engines", () => {
  it("drop finished transfers at once (404 after finalize)", async () => {
    const legacy = await startTestSim({ legacyTransferRemoval: true, seed: false });
    try {
      const disk = await addDisk(legacy.api, {
        name: "old",
        provisioned_size: String(MiB),
        format: "raw",
        sparse: "true",
        storage_domains: { storage_domain: [{ name: "data1" }] },
      });
      const tr = await startTransfer(legacy.api, { direction: "download", disk: { id: disk.id } });
      await legacy.api.post(`/imagetransfers/${tr.id}/finalize`, {});
      await legacy.api.waitFor(`/imagetransfers/${tr.id}`, (_j, status) => status === 404);
      expect((await legacy.api.ok(`/disks/${disk.id}`)).status).toBe("ok");
    } finally {
      await legacy.stop();
    }
  });

  it("auto-finalize completed downloads when the heuristic is on", async () => {
    const auto = await startTestSim({ autoFinalizeDownloads: true, seed: false });
    try {
      const disk = await addDisk(auto.api, {
        name: "auto",
        provisioned_size: String(MiB),
        format: "raw",
        sparse: "true",
        storage_domains: { storage_domain: [{ name: "data1" }] },
      });
      const tr = await startTransfer(auto.api, { direction: "download", disk: { id: disk.id } });
      expect((await io(auto.api.agent, "GET", tr.transfer_url)).body.length).toBe(MiB);
      await auto.api.waitFor(`/imagetransfers/${tr.id}`, (j) => j.phase === "finished_success");
      // A client finalize after that is harmless.
      expect((await auto.api.post(`/imagetransfers/${tr.id}/finalize`, {})).status).toBe(200);
    } finally {
      await auto.stop();
    }
  });
});
