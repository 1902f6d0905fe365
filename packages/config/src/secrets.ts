import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

/** A 32-byte key given as base64 or hex (64 hex digits). */
export function parseKey32(value: string, name: string): Buffer {
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, "hex") : Buffer.from(v, "base64");
  if (key.length !== 32) throw new Error(`${name} must be 32 bytes, as 64 hex digits or base64`);
  return key;
}

const VERSION = "v1";

/**
 * Encrypts a short secret (an engine password) with AES-256-GCM. The output is self-describing text:
 * `v1:<iv>:<tag>:<ciphertext>` in base64, so a later key rotation can tell versions apart.
 */
export function sealSecret(plain: string, key: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
  return [
    VERSION,
    iv.toString("base64"),
    cipher.getAuthTag().toString("base64"),
    data.toString("base64"),
  ].join(":");
}

export function openSecret(sealed: string, key: Buffer): string {
  const [version, iv, tag, data] = sealed.split(":");
  if (version !== VERSION || !iv || !tag || data === undefined) throw new Error("Unreadable sealed secret");
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64"));
  decipher.setAuthTag(Buffer.from(tag, "base64"));
  try {
    return Buffer.concat([decipher.update(Buffer.from(data, "base64")), decipher.final()]).toString("utf8");
  } catch {
    throw new Error(
      "Cannot decrypt a stored secret: LIFEBOAT_ENCRYPTION_KEY differs from the one that sealed it",
    );
  }
}
