import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

let dir: string;
let sim: Simulator;
let env: NodeJS.ProcessEnv;
let base: string[];
let repo: string;
/** The restore point of db01 the first test makes. */
let point = "";

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-cli-restore-"));
  sim = await startSimulator({
    dataDir: path.join(dir, "sim"),
    seedScale: "small",
    asyncDelayMs: 30,
    transferPollMs: 30,
  });
  env = { LIFEBOAT_ENGINE_PASSWORD: sim.adminPassword };
  base = ["--engine", sim.engineUrl, "--user", sim.adminUser, "--cafile", sim.caFile];
  repo = path.join(dir, "repo");
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function guest(diskId: string): Promise<Buffer> {
  return sim.guest.read(diskId, 0, sim.state.disk(diskId)?.provisionedSize ?? 0);
}

describe("lifeboat backup → restore", { timeout: 120_000 }, () => {
  it("restores a backed-up VM as a new VM with the same guest data and prints its id", async () => {
    const original = sim.state.vm("db01");
    if (!original) throw new Error("db01");
    const before = await Promise.all(original.attachments.map((a) => guest(a.diskId)));
    const b = await lifeboat(["backup", ...base, "--vm", "db01", "--repo", repo], env);
    expect(b.code).toBe(0);
    point = b.stdout.trim();

    const r = await lifeboat(
      [
        "restore",
        ...base,
        "--repo",
        repo,
        "--point",
        point,
        "--name",
        "db01-cli",
        "--storage-domain",
        "data2",
        "--cluster",
        "Default",
      ],
      env,
    );
    expect(r.stderr).not.toContain(sim.adminPassword);
    expect(r.code).toBe(0);
    const vmId = r.stdout.trim();
    const vm = sim.state.vm(vmId);
    expect(vm?.name).toBe("db01-cli");
    expect(r.stderr).toMatch(/restore: upload 100\.0%/);
    const data2 = sim.state.storageDomains().find((s) => s.name === "data2")?.id;
    const restored = vm?.attachments.map((a) => a.diskId) ?? [];
    expect(restored).toHaveLength(2);
    for (const id of restored) expect(sim.state.disk(id)?.storageDomainId).toBe(data2);
    // Disks come back in the OVF's order with the same data (new ids: the original still exists).
    const after = await Promise.all(restored.map((id) => guest(id)));
    expect(after.map((g) => before.findIndex((x) => x.equals(g))).sort()).toEqual([0, 1]);
    expect(restored.some((id) => original.attachments.some((a) => a.diskId === id))).toBe(false);
  });

  it("usage errors exit with 2, operational failures with 1", async () => {
    const bad = await lifeboat(
      ["restore", ...base, "--repo", repo, "--point", "x", "--name", "n", "--identity", "sideways"],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--identity must be auto, new or original/);
    const noPoint = await lifeboat(
      ["restore", ...base, "--repo", repo, "--point", "00000000-0000-4000-8000-000000000000", "--name", "n"],
      env,
    );
    expect(noPoint.code).toBe(1);
    expect(noPoint.stderr).toMatch(/^lifeboat: .*points\/00000000-0000-4000-8000-000000000000 is missing/m);
    const noRepo = await lifeboat(
      ["restore", ...base, "--repo", path.join(dir, "none"), "--point", "x", "--name", "n"],
      env,
    );
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toMatch(/no Lifeboat repository/);
  });

  it("refuses a name that is taken before creating anything", async () => {
    const b = await lifeboat(["backup", ...base, "--vm", "web01", "--repo", repo], env);
    const disks = sim.state.disks().length;
    const r = await lifeboat(
      ["restore", ...base, "--repo", repo, "--point", b.stdout.trim(), "--name", "app01"],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('lifeboat: a VM named "app01" already exists\n');
    expect(sim.state.disks().length).toBe(disks);
  });
});
