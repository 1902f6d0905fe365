import { createHash } from "node:crypto";
import { createBLAKE2b } from "hash-wasm";

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

/**
 * imageio's blake2b is BLAKE2b with a 32-byte digest, which node:crypto cannot make (only the fixed 64-byte
 * blake2b512): it comes from hash-wasm's WebAssembly build instead.
 */
async function hasherFactory(algorithm: ChecksumAlgorithm): Promise<() => Hasher> {
  if (algorithm === "blake2b") {
    const wasm = await createBLAKE2b(256);
    return () => {
      wasm.init();
      return {
        update: (b) => wasm.update(b),
        digest: () => Buffer.from(wasm.digest("binary")),
      };
    };
  }
  return () => {
    const h = createHash(algorithm);
    return { update: (b) => h.update(b), digest: () => h.digest() };
  };
}

/** BLAKE2b-256 of `data` (as imageio's blake2b checksum algorithm computes it). */
export async function blake2b256(data: Uint8Array): Promise<Buffer> {
  const h = (await hasherFactory("blake2b"))();
  h.update(data);
  return h.digest();
}

/**
 * imageio's block-based image hash (blkhash): every block of `blockSize` bytes (the last one may be
 * shorter) is hashed on its own and the block digests are hashed in order. blake2b uses a 32-byte digest.
 * Zero blocks reuse one precomputed digest, which gives the same result faster.
 */
export class BlockHash {
  private zeroDigest: Buffer | null = null;
  private readonly zeroBlock: Buffer;
  private readonly blockDigests: Buffer[] = [];

  private constructor(
    private readonly newHasher: () => Hasher,
    private readonly blockSize: number,
  ) {
    this.zeroBlock = Buffer.alloc(blockSize);
  }

  static async create(algorithm: ChecksumAlgorithm, blockSize: number): Promise<BlockHash> {
    return new BlockHash(await hasherFactory(algorithm), blockSize);
  }

  /** One block (full size except possibly the last). */
  block(data: Buffer): void {
    if (data.length === this.blockSize && data.equals(this.zeroBlock)) {
      this.zeroDigest ??= this.digestOf(this.zeroBlock);
      this.blockDigests.push(this.zeroDigest);
      return;
    }
    this.blockDigests.push(this.digestOf(data));
  }

  private digestOf(b: Buffer): Buffer {
    // One wasm instance serves inner and outer digests, so the outer one is computed at the end.
    const h = this.newHasher();
    h.update(b);
    return h.digest();
  }

  hexdigest(): string {
    const outer = this.newHasher();
    for (const d of this.blockDigests) outer.update(d);
    return outer.digest().toString("hex");
  }
}
