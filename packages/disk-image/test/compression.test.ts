import { describe, expect, it } from "vitest";
import { decompressCluster } from "../src/qcow2/compression";

/** A zstd frame of RLE blocks (format spec §3.1.1.2): `blocks` runs of `size` bytes of `byte`. */
function rleFrame(blocks: number, size: number, byte: number): Buffer {
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // magic, no checksum/size, 128 KiB window
  for (let i = 0; i < blocks; i++) {
    const h = (size << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0);
    parts.push(Buffer.from([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, byte]));
  }
  return Buffer.concat(parts);
}

describe("a zstd-compressed qcow2 cluster", () => {
  it("decompresses to one cluster, ignoring the next cluster's bytes after its frame", async () => {
    const frame = Buffer.concat([rleFrame(2, 32 * 1024, 0x41), Buffer.from("next cluster")]);
    const out = await decompressCluster(frame, "zstd", 64 * 1024);
    expect(out.equals(Buffer.alloc(64 * 1024, 0x41))).toBe(true);
  });

  it("refuses a frame that would regenerate far more than a cluster, before inflating it", async () => {
    await expect(decompressCluster(rleFrame(4096, 128 * 1024, 0), "zstd", 64 * 1024)).rejects.toThrow(
      `its zstd frame may regenerate ${4096 * 128 * 1024} bytes, more than one 65536-byte cluster`,
    );
  });

  it("refuses a frame that regenerates less or more than one cluster", async () => {
    await expect(decompressCluster(rleFrame(1, 1000, 7), "zstd", 64 * 1024)).rejects.toThrow(
      "decompressed to 1000 bytes instead of one 65536-byte cluster",
    );
    await expect(decompressCluster(rleFrame(1, 128 * 1024, 7), "zstd", 64 * 1024)).rejects.toThrow(
      "decompressed to 131072 bytes instead of one 65536-byte cluster",
    );
  });
});
