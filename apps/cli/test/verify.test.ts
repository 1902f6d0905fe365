import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openRepository, type Repository } from "@lifeboat/repository";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lifeboat } from "./support/run-cli";

const CS = 64 * 1024;
let root: string;

async function* segments(data: Buffer) {
  yield { offset: 0, data };
  yield { offset: data.length, length: 2 * CS, zero: true as const };
}

/** Restore points p1 and p2 share layer A; p3 has layer B. */
async function makeRepository(dir: string, key?: Buffer) {
  const repo = await openRepository(dir, { create: true, chunkSize: CS, key });
  const layer = async (imageId: string, data: Buffer) => {
    const r = await repo.writeLayer(segments(data), { imageId, format: "cow" });
    return { layerId: r.layerId, sha256: r.manifest.sha256, size: r.manifest.size };
  };
  const a = await layer("img-a", randomBytes(3 * CS + 100));
  const b = await layer("img-b", randomBytes(2 * CS));
  const point = (id: string, l: typeof a, imageId: string) =>
    repo.writeRestorePoint({
      id,
      vm: { id: "vm-1", name: "web01" },
      engine: { url: "https://engine.example/ovirt-engine" },
      ovf: "<ovf:Envelope/>",
      disks: [
        {
          diskId: "disk-1",
          alias: "web01_Disk1",
          layers: [{ imageId, parentImageId: null, format: "cow", virtualSize: 1 << 30, ...l }],
        },
      ],
    });
  await point("p1", a, "img-a");
  await point("p2", a, "img-a");
  await point("p3", b, "img-b");
  return { repo, a, b };
}

async function firstChunk(repo: Repository, layerId: string): Promise<string> {
  const e = (await repo.readLayerManifest(layerId)).entries.find((x) => "id" in x);
  if (!e || !("id" in e)) throw new Error("layer has a chunk");
  return e.id;
}

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-cli-verify-"));
});
afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe("lifeboat verify", () => {
  it("passes a healthy repository, then names a damaged chunk and the restore points it breaks", async () => {
    const dir = path.join(root, "plain");
    const { repo, a } = await makeRepository(dir);
    const [ok, okJson] = await Promise.all([
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: "" }),
      lifeboat(["verify", "--repo", dir, "--json"], { LIFEBOAT_REPOSITORY_KEY: "" }),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /verified repository: 3 restore point\(s\), 2 layer\(s\), 6 chunk\(s\), .*: OK/,
    );
    expect(okJson.code).toBe(0);
    expect(JSON.parse(okJson.stdout)).toMatchObject({ ok: true, checked: { restorePoints: 3, chunks: 6 } });

    const id = await firstChunk(repo, a.layerId);
    const file = path.join(dir, "chunks", id.slice(0, 2), id.slice(2, 4), id);
    const bytes = await fs.readFile(file);
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    await fs.writeFile(file, bytes);

    // --no-quarantine: these run at once and each must find the same bad copy
    const [bad, badJson, p3, missing] = await Promise.all([
      lifeboat(["verify", "--repo", dir, "--no-quarantine"], { LIFEBOAT_REPOSITORY_KEY: "" }),
      lifeboat(["verify", "--repo", dir, "--point", "p1", "--json", "--no-quarantine"], {
        LIFEBOAT_REPOSITORY_KEY: "",
      }),
      lifeboat(["verify", "--repo", dir, "--point", "p3"], { LIFEBOAT_REPOSITORY_KEY: "" }),
      lifeboat(["verify", "--repo", dir, "--point", "nope"], { LIFEBOAT_REPOSITORY_KEY: "" }),
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`bad chunk ${id}: corrupt`);
    expect(bad.stdout).toContain(`  layers: ${a.layerId}`);
    expect(bad.stdout).toContain("  restore points: p1, p2");
    expect(bad.stdout).toMatch(/: DAMAGED/);
    expect(bad.stderr.trim().split("\n")).toEqual([
      "lifeboat: verify found 1 bad chunk(s) and 1 bad layer(s); restore points affected: p1, p2",
    ]);
    expect(badJson.code).toBe(1);
    const report = JSON.parse(badJson.stdout);
    expect(report.pointId).toBe("p1");
    expect(report.badChunks.map((c: { chunkId: string }) => c.chunkId)).toEqual([id]);
    expect(report.badRestorePoints.map((p: { id: string }) => p.id)).toEqual(["p1"]);
    expect(p3.code).toBe(0);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/restore point nope is not in repository/);
    expect(bad.stdout).not.toContain("quarantine");
    await expect(fs.stat(file)).resolves.toBeTruthy();

    // by default verify moves the corrupt chunk aside; the next verify finds it missing (a backup brings it back)
    const moved = await lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: "" });
    expect(moved.code).toBe(1);
    expect(moved.stdout).toContain(`bad chunk ${id}: corrupt`);
    expect(moved.stdout).toContain("  moved to the quarantine: the next backup of this data stores it again");
    await expect(fs.stat(file)).rejects.toThrow(/ENOENT/);
    expect((await fs.readFile(path.join(dir, "quarantine", id))).equals(bytes)).toBe(true);
    const after = await lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: "" });
    expect(after.stdout).toContain(`bad chunk ${id}: missing`);
  });

  it("reads LIFEBOAT_REPOSITORY_KEY for an encrypted repository, and exits 1 or 2 on key trouble", async () => {
    const dir = path.join(root, "encrypted");
    const key = randomBytes(32);
    await makeRepository(dir, key);
    const [hex, b64, none, wrong, malformed, noRepo, usage] = await Promise.all([
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: key.toString("hex") }),
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: key.toString("base64") }),
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: "" }),
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: randomBytes(32).toString("base64") }),
      lifeboat(["verify", "--repo", dir], { LIFEBOAT_REPOSITORY_KEY: "abc" }),
      lifeboat(["verify", "--repo", path.join(root, "nothing-here")], { LIFEBOAT_REPOSITORY_KEY: "" }),
      lifeboat(["verify"], { LIFEBOAT_REPOSITORY_KEY: "" }),
    ]);
    expect([hex.code, b64.code]).toEqual([0, 0]);
    expect(hex.stdout).toMatch(/6 chunk\(s\).*: OK/);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/is encrypted: its key is needed \(LIFEBOAT_REPOSITORY_KEY\)/);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/the key given is not the key of repository/);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toMatch(/LIFEBOAT_REPOSITORY_KEY must be 32 bytes/);
    expect(noRepo.code).toBe(1);
    expect(noRepo.stderr).toMatch(/no Lifeboat repository at .*nothing-here/);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--repo/);
  });
});
