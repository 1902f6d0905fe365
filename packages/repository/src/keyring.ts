import { createHash, createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { RepositoryKeyError } from "./errors";

/** Keys derived from the master key; each purpose gets its own so that none can stand in for another. */
export interface KeyRing {
  /** AES-256-GCM key for chunk and manifest payloads. */
  encryption: Buffer;
  /** HMAC-SHA-256 key for chunk ids, so that ids say nothing about the plain content. */
  chunkId: Buffer;
  /** Proves the key without decrypting anything: its HMAC of a fixed string is stored in config.json. */
  check: Buffer;
}

function derive(master: Buffer, salt: string, purpose: string): Buffer {
  return Buffer.from(
    hkdfSync("sha256", master, Buffer.from(salt), Buffer.from(`lifeboat repository ${purpose}`), 32),
  );
}

export function deriveKeyRing(master: Buffer, repositoryId: string): KeyRing {
  if (master.length !== 32) throw new RepositoryKeyError("the repository key must be 32 bytes");
  return {
    encryption: derive(master, repositoryId, "encryption v1"),
    chunkId: derive(master, repositoryId, "chunk id v1"),
    check: derive(master, repositoryId, "key check v1"),
  };
}

export function keyCheckValue(keys: KeyRing): string {
  return createHmac("sha256", keys.check).update("lifeboat repository key check").digest("hex");
}

export function keyCheckMatches(keys: KeyRing, stored: string): boolean {
  const mine = Buffer.from(keyCheckValue(keys), "hex");
  const theirs = Buffer.from(stored, "hex");
  return theirs.length === mine.length && timingSafeEqual(mine, theirs);
}

/** The content address of a chunk: SHA-256 of its plain bytes, or an HMAC of them when encrypted. */
export type ChunkIdFunction = (plain: Buffer) => string;

export function chunkIdFunction(keys: KeyRing | undefined): ChunkIdFunction {
  if (!keys) return (plain) => createHash("sha256").update(plain).digest("hex");
  const key = keys.chunkId;
  return (plain) => createHmac("sha256", key).update(plain).digest("hex");
}
