import { createHash } from "node:crypto";
import { Blake2b } from "./blake2b";

export const CHECKSUM_ALGORITHMS = [
  "blake2b",
  "md5",
  "sha1",
  "sha224",
  "sha256",
  "sha384",
  "sha512",
] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];
export const DEFAULT_BLOCK_SIZE = 4 * 1024 * 1024;

interface Hasher {
  update(b: Uint8Array): unknown;
  digest(): Buffer;
}

function hasher(algorithm: ChecksumAlgorithm): Hasher {
  if (algorithm === "blake2b") return new Blake2b(32);
  const h = createHash(algorithm);
  return { update: (b) => h.update(b), digest: () => h.digest() };
}

/**
 * imageio's block-based image hash (blkhash): every block of `blockSize` bytes (the last one may be
 * shorter) is hashed on its own and the block digests are hashed in order. blake2b uses a 32-byte digest.
 * Zero blocks reuse one precomputed digest, which gives the same result faster.
 */
export class BlockHash {
  private readonly outer: Hasher;
  private zeroDigest: Buffer | null = null;
  private readonly zeroBlock: Buffer;

  constructor(
    private readonly algorithm: ChecksumAlgorithm,
    private readonly blockSize: number,
  ) {
    this.outer = hasher(algorithm);
    this.zeroBlock = Buffer.alloc(blockSize);
  }

  /** One block (full size except possibly the last). */
  block(data: Buffer): void {
    if (data.length === this.blockSize && data.equals(this.zeroBlock)) {
      this.zeroDigest ??= this.digestOf(this.zeroBlock);
      this.outer.update(this.zeroDigest);
      return;
    }
    this.outer.update(this.digestOf(data));
  }

  private digestOf(b: Buffer): Buffer {
    const h = hasher(this.algorithm);
    h.update(b);
    return h.digest();
  }

  hexdigest(): string {
    return this.outer.digest().toString("hex");
  }
}
