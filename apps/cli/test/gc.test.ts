import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openRepository } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

const CS = 64 * 1024;
let root: string;

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-cli-gc-"));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function chunkCount(dir: string): Promise<number> {
  const all = await fs.readdir(path.join(dir, "chunks"), { recursive: true, withFileTypes: true });
  return all.filter((e) => e.isFile() && !e.name.startsWith(".")).length;
}

/** Everything in the repository as if written two hours ago. */
async function ageAll(dir: string): Promise<void> {
  const t = new Date(Date.now() - 2 * 3600_000);
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) await fs.utimes(path.join(e.parentPath, e.name), t, t);
}

describe("lifeboat gc", () => {
  it("reports in a dry run, honours --grace-minutes, then deletes only unreferenced data", async () => {
    const dir = path.join(root, "repo");
    const repo = await openRepository(dir, { create: true, chunkSize: CS });
    async function* one(data: Buffer) {
      yield { offset: 0, data };
    }
    const kept = await repo.writeLayer(one(randomBytes(3 * CS)), { imageId: "img-kept" });
    const orphan = await repo.writeLayer(one(randomBytes(2 * CS)), { imageId: "img-orphan" });
    await repo.writeRestorePoint({
      id: "p1",
      vm: { id: "vm-1", name: "web01" },
      engine: { url: "https://engine.example/ovirt-engine" },
      ovf: "<ovf:Envelope/>",
      disks: [
        {
          diskId: "disk-1",
          alias: "web01_Disk1",
          layers: [
            {
              imageId: "img-kept",
              parentImageId: null,
              format: "cow",
              virtualSize: 1 << 30,
              layerId: kept.layerId,
              sha256: kept.manifest.sha256,
              size: kept.manifest.size,
            },
          ],
        },
      ],
    });
    await ageAll(dir);
    expect(await chunkCount(dir)).toBe(5);
    const env = { LIFEBOAT_REPOSITORY_KEY: "" };

    const [dry, graceful, badGrace, noRepo] = await Promise.all([
      lifeboat(["gc", "--repo", dir, "--dry-run", "--json"], env),
      lifeboat(["gc", "--repo", dir, "--grace-minutes", "180"], env),
      lifeboat(["gc", "--repo", dir, "--grace-minutes", "-5"], env),
      lifeboat(["gc"], env),
    ]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, deletedChunks: 2, deletedLayers: 1 });
    expect(graceful.code).toBe(0);
    expect(graceful.stdout).toMatch(/^gc: deleted 0 chunk\(s\) and 0 orphan layer manifest\(s\)/);
    expect(await chunkCount(dir)).toBe(5);
    expect(badGrace.code).toBe(2);
    expect(badGrace.stderr).toMatch(/--grace-minutes must be an integer from 0/);
    expect(noRepo.code).toBe(2);

    const real = await lifeboat(["gc", "--repo", dir], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(
      /^gc: deleted 2 chunk\(s\) and 1 orphan layer manifest\(s\), freed \d+\.\d KiB/,
    );
    expect(real.stdout).toMatch(/kept 3 chunk\(s\) .* for 1 restore point\(s\)/);
    expect(await chunkCount(dir)).toBe(3);
    await expect(fs.stat(path.join(dir, "layers", orphan.layerId))).rejects.toThrow();
    expect((await repo.verify()).ok).toBe(true);
  });
});
