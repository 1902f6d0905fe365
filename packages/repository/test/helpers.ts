import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { afterEach } from "vitest";
import type { LayerSegment, Repository, RestorePointInput } from "../src";
import { mountSmallFilesystem, type SmallFilesystem } from "../src/testing";

/** Small chunks keep fixtures small while exercising every boundary case. */
export const CS = 64 * 1024;

const made: string[] = [];
afterEach(async () => {
  for (const dir of made.splice(0)) await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh folder under the OS temp dir, removed after the test. */
export async function tempDir(prefix = "lifeboat-repo-"): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Text-like bytes that compress well, varying with `seed`. */
export function compressible(length: number, seed = 0): Buffer {
  const words = ["lifeboat ", "ovirt ", "disk ", "snapshot ", "qcow2 ", "restore ", "chunk ", "layer "];
  const parts: string[] = [];
  let n = 0;
  for (let i = seed; n < length; i++) {
    const w = `${words[(i * 7 + seed) % words.length]}${i % 97} `;
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join("")).subarray(0, length);
}

/** What a layer should read back as, and the segments (imageio-style) that describe it. */
export interface Fixture {
  bytes: Buffer;
  segments: LayerSegment[];
}

type Part = { data: Buffer } | { zero: number };

/** Builds a fixture from parts; zero parts become zero segments, never materialised in the source. */
export function fixture(parts: Part[]): Fixture {
  const segments: LayerSegment[] = [];
  const bufs: Buffer[] = [];
  let offset = 0;
  for (const p of parts) {
    if ("data" in p) {
      segments.push({ offset, data: p.data });
      bufs.push(p.data);
      offset += p.data.length;
    } else {
      segments.push({ offset, length: p.zero, zero: true });
      bufs.push(Buffer.alloc(p.zero));
      offset += p.zero;
    }
  }
  return { bytes: Buffer.concat(bufs), segments };
}

/**
 * A mixed layer: random and compressible data, an all-zero chunk given as data, holes given as zero segments
 * (one starting mid-chunk), segment edges off chunk boundaries, and a partial last chunk.
 */
export function mixedFixture(): Fixture {
  return fixture([
    { data: randomBytes(CS + 1000) },
    { zero: CS - 1000 + 2 * CS }, // finishes chunk 1, then chunks 2-3 are holes
    { data: Buffer.alloc(CS) }, // chunk 4: zeroes sent as data, still a hole
    { data: compressible(CS / 2, 1) },
    { zero: 100 },
    { data: compressible(CS + CS / 2 - 100, 2) }, // ends chunk 6
    { data: randomBytes(12345) }, // partial last chunk
  ]);
}

export async function* iterate<T>(items: T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Every regular file under `dir`, relative paths. */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

export async function chunkFiles(dir: string): Promise<string[]> {
  return (await listFiles(dir)).filter(
    (f) => f.startsWith(`chunks${path.sep}`) && !path.basename(f).startsWith("."),
  );
}

export function chunkPath(dir: string, id: string): string {
  return path.join(dir, "chunks", id.slice(0, 2), id.slice(2, 4), id);
}

/** A restore point input over written layers, one disk per layer chain. */
export function pointInput(
  chains: { layerId: string; sha256: string; size: number; imageId?: string }[][],
  extra: Partial<RestorePointInput> = {},
): RestorePointInput {
  return {
    vm: { id: "5b0e7e3a-0000-4000-8000-000000000001", name: "web01" },
    engine: { url: "https://engine.example/ovirt-engine" },
    ovf: "<ovf:Envelope/>",
    disks: chains.map((layers, d) => ({
      diskId: `disk-${d}`,
      alias: `web01_Disk${d + 1}`,
      layers: layers.map((l, i) => ({
        imageId: l.imageId ?? `image-${d}-${i}`,
        parentImageId: i === 0 ? null : (layers[i - 1]?.imageId ?? `image-${d}-${i - 1}`),
        format: "cow" as const,
        virtualSize: 1024 * 1024 * 1024,
        layerId: l.layerId,
        sha256: l.sha256,
        size: l.size,
      })),
    })),
    ...extra,
  };
}

/** Writes a fixture as a layer and returns what a restore point needs to reference it. */
export async function storeLayer(repo: Repository, f: Fixture, imageId = "image") {
  const r = await repo.writeLayer(iterate(f.segments), { imageId, format: "cow" });
  return { layerId: r.layerId, sha256: r.manifest.sha256, size: r.manifest.size, result: r };
}

/** Pushes a file's times into the past, as if written `ms` ago. */
export async function age(file: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await fs.utimes(file, t, t);
}

const mounted: SmallFilesystem[] = [];
afterEach(async () => {
  for (const m of mounted.splice(0)) await m.unmount();
});

/** A real filesystem of `bytes` for one test (see mountSmallFilesystem), unmounted after it. */
export async function smallFilesystem(bytes: number): Promise<string> {
  const m = await mountSmallFilesystem(bytes);
  mounted.push(m);
  return m.dir;
}
