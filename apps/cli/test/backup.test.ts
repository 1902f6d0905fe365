import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Simulator, startSimulator } from "@lifeboat/ovirt-sim";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

let dir: string;
let sim: Simulator;
let env: NodeJS.ProcessEnv;
let base: string[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "lifeboat-cli-backup-"));
  sim = await startSimulator({
    dataDir: path.join(dir, "sim"),
    seedScale: "small",
    asyncDelayMs: 30,
    transferPollMs: 30,
  });
  env = { LIFEBOAT_ENGINE_PASSWORD: sim.adminPassword };
  base = ["--engine", sim.engineUrl, "--user", sim.adminUser, "--cafile", sim.caFile];
}, 60_000);
afterAll(async () => {
  await sim?.stop();
  await rm(dir, { recursive: true, force: true });
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("lifeboat backup", { timeout: 120_000 }, () => {
  it("backs a VM up into a new repository and prints the restore point id; a second run reuses unchanged volumes", async () => {
    const repo = path.join(dir, "repo");
    const first = await lifeboat(
      ["backup", ...base, "--vm", "app01", "--repo", repo, "--tag", "nightly"],
      env,
    );
    expect(first.stderr).not.toContain(sim.adminPassword);
    expect(first.code).toBe(0);
    const id = first.stdout.trim();
    expect(id).toMatch(UUID);
    expect(first.stderr).toMatch(/backup: download 100\.0%/);
    expect(first.stderr).toMatch(/backup: app01: 1 disk\(s\), 3 layer\(s\) \(0 unchanged\)/);
    expect(await readdir(path.join(repo, "points"))).toEqual([id]);

    await sim.guest.write("app01", 1, { seed: 3 });
    const second = await lifeboat(["backup", ...base, "--vm", "app01", "--repo", repo], env);
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toMatch(UUID);
    expect(second.stdout.trim()).not.toBe(id);
    // Base and middle volumes are found in the repository by the daemon's checksum.
    expect(second.stderr).toMatch(/3 layer\(s\) \(2 unchanged\)/);
    expect(second.stderr).toMatch(/unchanged: layer .* reused/);
    expect(sim.state.snapshots().some((s) => s.description.startsWith("Lifeboat"))).toBe(false);
  });

  it("--keep-snapshot leaves the temporary snapshot on the VM", async () => {
    const r = await lifeboat(
      ["backup", ...base, "--vm", "web01", "--repo", path.join(dir, "keep"), "--keep-snapshot"],
      env,
    );
    expect(r.code).toBe(0);
    const vmId = sim.state.vm("web01")?.id;
    expect(sim.state.snapshots(vmId).filter((s) => s.description.startsWith("Lifeboat backup"))).toHaveLength(
      1,
    );
  });

  it("usage errors exit with 2", async () => {
    const repo = path.join(dir, "usage");
    const noPassword = await lifeboat(["backup", ...base, "--vm", "web01", "--repo", repo], {
      LIFEBOAT_ENGINE_PASSWORD: "",
    });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toMatch(/password is missing/);
    const both = await lifeboat(["backup", ...base, "--insecure", "--vm", "web01", "--repo", repo], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--cafile and --insecure exclude each other/);
    const missing = await lifeboat(["backup", ...base, "--repo", repo], env);
    expect(missing.code).toBe(2);
  });

  it("operational failures exit with 1 and one line on stderr, never the password", async () => {
    const repo = path.join(dir, "fail");
    const unknown = await lifeboat(["backup", ...base, "--vm", "nosuchvm", "--repo", repo], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^lifeboat: no VM named "nosuchvm"/m);
    const wrong = await lifeboat(
      ["backup", ...base, "--vm", "web01", "--repo", repo, "--password", "not-it-9f3c"],
      env,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/SSO login failed/);
    expect(wrong.stderr).not.toContain("not-it-9f3c");
    // The simulator's CA is not in the system store: without --cafile the TLS check refuses it.
    const untrusted = await lifeboat(
      ["backup", "--engine", sim.engineUrl, "--user", sim.adminUser, "--vm", "web01", "--repo", repo],
      env,
    );
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toMatch(/certificate/i);
  });
});

describe("lifeboat backup --mode", { timeout: 120_000 }, () => {
  it("auto takes the backup API for an incremental-capable VM: a full, then an incremental, as JSON", async () => {
    const repo = path.join(dir, "api");
    const args = ["backup", ...base, "--vm", "web01", "--repo", repo, "--json"];
    const first = await lifeboat(args, env);
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout.trim().split("\n").pop() as string);
    expect(a).toMatchObject({ mode: "full", restorePointId: expect.stringMatching(UUID) });
    expect(a.disks[0]).toMatchObject({
      mode: "full",
      checkpointId: a.checkpointId,
      transferredBytes: expect.any(Number),
    });
    expect(a.disks[0].transferredBytes).toBeGreaterThan(0);
    await sim.guest.write("web01", 1, { seed: 5 });
    const second = await lifeboat(args, env);
    expect(second.code).toBe(0);
    const b = JSON.parse(second.stdout.trim().split("\n").pop() as string);
    expect(b.mode).toBe("incremental");
    expect(b.disks[0].mode).toBe("incremental");
    // Only the dirty extents are read.
    expect(b.disks[0].transferredBytes).toBeGreaterThan(0);
    expect(b.disks[0].transferredBytes).toBeLessThan(a.disks[0].transferredBytes);
    expect(b.checkpointId).not.toBe(a.checkpointId);
    const plain = await lifeboat(["backup", ...base, "--vm", "web01", "--repo", repo, "--mode", "full"], env);
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim().split("\n").pop()).toMatch(UUID);
  });

  it("snapshot-chain as JSON: no checkpoint, no per-disk byte count; a bad or impossible mode is refused", async () => {
    const repo = path.join(dir, "chain-json");
    const r = await lifeboat(
      ["backup", ...base, "--vm", "web01", "--repo", repo, "--mode", "snapshot-chain", "--json"],
      env,
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").pop() as string);
    expect(out).toMatchObject({
      restorePointId: expect.stringMatching(UUID),
      mode: "snapshot-chain",
      checkpointId: null,
    });
    expect(out.transferredBytes).toBeGreaterThan(0);
    expect(out.disks[0]).toMatchObject({
      mode: "snapshot-chain",
      transferredBytes: null,
      checkpointId: null,
    });
    const bad = await lifeboat(
      ["backup", ...base, "--vm", "web01", "--repo", repo, "--mode", "forever"],
      env,
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--mode must be auto, full, incremental or snapshot-chain, not "forever"/);
    // The snapshot-chain point has no checkpoint to start an incremental from.
    const inc = await lifeboat(
      ["backup", ...base, "--vm", "web01", "--repo", repo, "--mode", "incremental"],
      env,
    );
    expect(inc.code).toBe(1);
    expect(inc.stderr).toMatch(/no earlier backup-API restore point of web01 .*: take a full one first/);
  });
});
