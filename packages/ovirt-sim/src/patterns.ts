import { createCipheriv, createHash } from "node:crypto";

/**
 * Recognisable guest data: every 64 KiB block starts with a readable marker naming the VM, the disk, the
 * guest offset and a generation, followed by pseudo-random bytes (AES-CTR keystream: fast, deterministic,
 * incompressible); text blocks hold readable, compressible lines.
 */
export const BLOCK = 64 * 1024;
const MARKER_LEN = 128;

export interface BlockLabel {
  vm: string;
  disk: string;
  gen: number | string;
}

export function marker(label: BlockLabel, offset: number): string {
  return `LIFEBOAT-SIM vm=${label.vm} disk=${label.disk} offset=0x${offset.toString(16).padStart(12, "0")} gen=${label.gen}\n`;
}

function keystream(label: BlockLabel, offset: number, length: number): Buffer {
  const key = createHash("sha256").update(`${label.vm}/${label.disk}/${label.gen}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  return createCipheriv("aes-128-ctr", key, iv).update(Buffer.alloc(length));
}

/** Marker + pseudo-random data for [offset, offset+length); offset and length are multiples of 64 KiB. */
export function randomBlocks(label: BlockLabel, offset: number, length: number): Buffer {
  const buf = keystream(label, offset, length);
  for (let o = 0; o < length; o += BLOCK) {
    const m = Buffer.from(marker(label, offset + o), "utf8").subarray(0, MARKER_LEN);
    buf.fill(0x20, o, o + MARKER_LEN);
    m.copy(buf, o);
  }
  return buf;
}

const LINES = [
  "The quick brown fox jumps over the lazy dog.",
  "Backups are only as good as the restores you have tested.",
  "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
  "oVirt keeps each disk as a chain of volumes; snapshots freeze the active one.",
];

/** Marker + readable text lines (compresses well) for [offset, offset+length). */
export function textBlocks(label: BlockLabel, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length, 0x20);
  for (let o = 0; o < length; o += BLOCK) {
    let text = marker(label, offset + o);
    let i = Math.floor((offset + o) / BLOCK);
    while (text.length < BLOCK) text += `${LINES[i++ % LINES.length]} [${label.vm}/${label.disk}]\n`;
    buf.write(text.slice(0, Math.min(BLOCK, length - o)), o, "utf8");
  }
  return buf;
}

/** Deterministic small PRNG (mulberry32) for placing seeded data. */
export function prng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * n;
  };
}
