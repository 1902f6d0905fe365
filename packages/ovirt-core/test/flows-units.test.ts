import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { openRepository, type RestorePointManifest } from "@lifeboat/repository";
import { describe, expect, it } from "vitest";
import { type EngineObjectRecord, firstKnown, storedLayers } from "../src/flows";
import { outstanding } from "../src/flows/cleanup";
import { pointView } from "../src/flows/manifest";
import { withPatchedStart } from "../src/flows/restore";
import type { ImageSegment } from "../src/imageio";

async function* from(segments: ImageSegment[]): AsyncGenerator<ImageSegment> {
  yield* segments;
}

/** The bytes a segment stream stands for. */
async function bytesOf(segments: AsyncIterable<ImageSegment>): Promise<Buffer> {
  const parts: Buffer[] = [];
  let at = 0;
  for await (const s of segments) {
    expect(s.offset).toBe(at);
    const b = s.zero ? Buffer.alloc(s.length) : s.data;
    parts.push(b);
    at += b.length;
  }
  return Buffer.concat(parts);
}

describe("withPatchedStart (a rewritten first cluster in an upload stream)", () => {
  it("replaces the first bytes across data and zero segments and keeps the rest as it was", async () => {
    const original = Buffer.concat([randomBytes(4096), Buffer.alloc(70_000), randomBytes(10_000)]);
    const segments: ImageSegment[] = [
      { offset: 0, data: original.subarray(0, 4096) },
      { offset: 4096, length: 70_000, zero: true },
      { offset: 74_096, data: original.subarray(74_096) },
    ];
    const patch = randomBytes(65_536);
    const out = await bytesOf(withPatchedStart(from(segments), patch));
    expect(out.length).toBe(original.length);
    expect(out.subarray(0, 65_536).equals(patch)).toBe(true);
    expect(out.subarray(65_536).equals(original.subarray(65_536))).toBe(true);
  });

  it("passes the stream through untouched without a patch", async () => {
    const data = randomBytes(8192);
    const out = await bytesOf(withPatchedStart(from([{ offset: 0, data }]), undefined));
    expect(out.equals(data)).toBe(true);
  });
});

describe("outstanding (what a journal says is still on the engine)", () => {
  const r = (kind: EngineObjectRecord["kind"], id: string, state: EngineObjectRecord["state"]) =>
    ({ kind, id, state, purpose: "test" }) as EngineObjectRecord;

  it("keeps created and not removed objects, newest first; the same id of another kind is another object", () => {
    const journal = [
      r("disk", "a", "created"),
      r("vm", "v", "created"),
      r("image_transfer", "t", "created"),
      r("image_transfer", "t", "removed"),
      r("snapshot", "a", "created"),
    ];
    expect(outstanding(journal).map((x) => `${x.kind}:${x.id}`)).toEqual(["snapshot:a", "vm:v", "disk:a"]);
  });

  it("an object created again after its removal is outstanding again", () => {
    const journal = [r("disk", "d", "created"), r("disk", "d", "removed"), r("disk", "d", "created")];
    expect(outstanding(journal)).toHaveLength(1);
  });
});

describe("pointView (a restore point manifest as the restore reads it)", () => {
  it("names the field a damaged manifest lacks", () => {
    const bad = {
      id: "p1",
      vm: { id: "v", name: "n" },
      ovf: "",
      disks: [{ diskId: "d", alias: "a", layers: [] }],
    } as unknown as RestorePointManifest;
    expect(() => pointView(bad)).toThrow(/restore point p1 cannot be restored: disks\.0\.layers: /);
  });
});

describe("storedLayers (the reuse rule, from the repository)", () => {
  it("offers the newest layer of this VM's image that carries an imageio checksum, and nothing else", async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), "lifeboat-known-"));
    try {
      const repo = await openRepository(dir, { create: true });
      const put = async (meta: Record<string, unknown>) =>
        (await repo.writeLayer(Readable.from([randomBytes(8192)]), { format: "raw", ...meta })).layerId;
      const older = await put({ imageId: "img-1", vmId: "vm-a", imageioChecksum: "c-old" });
      await new Promise((r) => setTimeout(r, 5)); // createdAt orders them
      const newer = await put({ imageId: "img-1", vmId: "vm-a", imageioChecksum: "c-new" });
      await put({ imageId: "img-2", vmId: "vm-b", imageioChecksum: "c-b" });
      await put({ imageId: "img-3", vmId: "vm-a" });

      const lookup = storedLayers(repo, "vm-a");
      expect(await lookup("img-1")).toMatchObject({ layerId: newer, imageioChecksum: "c-new", size: 8192 });
      expect(newer).not.toBe(older);
      expect(await lookup("img-2")).toBeUndefined(); // another VM's layer
      expect(await lookup("img-3")).toBeUndefined(); // no checksum to compare with
      const fallback = { layerId: "catalog", sha256: "0".repeat(64), size: 1, imageioChecksum: "x" };
      const both = firstKnown(lookup, async (id) => (id === "img-3" ? fallback : undefined));
      expect(await both("img-3")).toBe(fallback);
      expect((await both("img-1"))?.layerId).toBe(newer);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
