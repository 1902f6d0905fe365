import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { CODEC_IDS, type CodecName, type Codecs, codecName } from "./codec";
import { CorruptObjectError } from "./errors";

/**
 * Every stored object (chunk, layer manifest, restore point, session) is one envelope:
 *
 *   0  magic "LBRO"            4 bytes
 *   4  format version (1)      1
 *   5  kind                    1   chunk 1, layer 2, restore point 3, session 4
 *   6  codec                   1   none 0, zstd 1, deflate 2
 *   7  flags                   1   bit 0 encrypted, bit 1 digest present
 *   8  plain length            8   big-endian
 *  16  payload length          8   bytes after the header, GCM tag included
 *  24  nonce                  12   when encrypted
 *      SHA-256 of plain       32   when digest present (manifests of unencrypted repositories)
 *      payload
 *
 * With encryption the payload is AES-256-GCM(compressed) followed by its 16-byte tag, and the header plus
 * the object's key are the additional authenticated data, so an object cannot be moved to another name.
 * Chunks carry no digest: their key is their hash.
 */
const MAGIC = Buffer.from("LBRO");
const VERSION = 1;
const FIXED = 24;
const NONCE = 12;
const TAG = 16;
const DIGEST = 32;
const FLAG_ENCRYPTED = 1;
const FLAG_DIGEST = 2;

export const OBJECT_KINDS = { chunk: 1, layer: 2, point: 3, session: 4 } as const;
export type ObjectKind = keyof typeof OBJECT_KINDS;

/** Bytes an envelope adds around its payload at most. */
export const ENVELOPE_OVERHEAD = FIXED + NONCE + DIGEST + TAG;

export class ObjectFormat {
  constructor(
    readonly codecs: Codecs,
    private readonly encryptionKey: Buffer | undefined,
  ) {}

  /** Compresses (when it helps) and encrypts (when the repository is encrypted) `plain` for `key`. */
  async seal(kind: ObjectKind, key: string, plain: Buffer): Promise<Buffer[]> {
    const { codec, data } = await this.codecs.compress(plain);
    const encrypted = this.encryptionKey !== undefined;
    const digest = !encrypted && kind !== "chunk";
    const header = Buffer.alloc(FIXED + (encrypted ? NONCE : 0) + (digest ? DIGEST : 0));
    MAGIC.copy(header, 0);
    header[4] = VERSION;
    header[5] = OBJECT_KINDS[kind];
    header[6] = CODEC_IDS[codec];
    header[7] = (encrypted ? FLAG_ENCRYPTED : 0) | (digest ? FLAG_DIGEST : 0);
    header.writeBigUInt64BE(BigInt(plain.length), 8);
    header.writeBigUInt64BE(BigInt(data.length + (encrypted ? TAG : 0)), 16);
    if (digest) createHash("sha256").update(plain).digest().copy(header, FIXED);
    if (!this.encryptionKey) return [header, data];
    randomBytes(NONCE).copy(header, FIXED);
    const cipher = createCipheriv("aes-256-gcm", this.encryptionKey, header.subarray(FIXED, FIXED + NONCE));
    cipher.setAAD(Buffer.concat([header, Buffer.from(key)]));
    const body = cipher.update(data);
    const final = cipher.final();
    return [header, body, final, cipher.getAuthTag()];
  }

  /**
   * Checks and opens an envelope read from `key`; the plain bytes, at most `maxPlain` long. Any problem is a
   * CorruptObjectError naming the object. Chunk hashes are checked by the caller, which knows the id.
   */
  async open(kind: ObjectKind, key: string, stored: Buffer, maxPlain: number): Promise<Buffer> {
    const bad = (detail: string) => new CorruptObjectError(key, detail);
    if (stored.length < FIXED) throw bad(`truncated: ${stored.length} bytes, shorter than a header`);
    if (!stored.subarray(0, 4).equals(MAGIC)) throw bad("not a Lifeboat repository object (bad magic)");
    if (stored[4] !== VERSION) throw bad(`object format version ${stored[4]} is not supported`);
    if (stored[5] !== OBJECT_KINDS[kind]) throw bad(`holds object kind ${stored[5]}, not a ${kind}`);
    const codec: CodecName | undefined = codecName(stored[6] ?? -1);
    if (!codec) throw bad(`unknown codec ${stored[6]}`);
    const flags = stored[7] ?? 0;
    if (flags & ~(FLAG_ENCRYPTED | FLAG_DIGEST)) throw bad(`unknown flags ${flags}`);
    const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
    if (encrypted !== (this.encryptionKey !== undefined))
      throw bad(encrypted ? "encrypted, but the repository is not" : "not encrypted, but the repository is");
    const hasDigest = (flags & FLAG_DIGEST) !== 0;
    if (hasDigest !== (!encrypted && kind !== "chunk")) throw bad("digest flag does not match its kind");
    const plainLength = stored.readBigUInt64BE(8);
    const payloadLength = stored.readBigUInt64BE(16);
    if (plainLength > BigInt(maxPlain))
      throw bad(`records ${plainLength} plain bytes, more than ${maxPlain}`);
    const headerLength = FIXED + (encrypted ? NONCE : 0) + (hasDigest ? DIGEST : 0);
    const actual = BigInt(stored.length - headerLength);
    if (payloadLength > actual)
      throw bad(`truncated: ${actual < 0n ? 0n : actual} of ${payloadLength} payload bytes`);
    if (payloadLength < actual) throw bad(`${actual - payloadLength} bytes after the end of its payload`);
    const header = stored.subarray(0, headerLength);
    let payload = stored.subarray(headerLength);
    if (this.encryptionKey) {
      if (payload.length < TAG) throw bad("encrypted payload shorter than its tag");
      const decipher = createDecipheriv(
        "aes-256-gcm",
        this.encryptionKey,
        header.subarray(FIXED, FIXED + NONCE),
      );
      decipher.setAAD(Buffer.concat([header, Buffer.from(key)]));
      decipher.setAuthTag(payload.subarray(payload.length - TAG));
      try {
        payload = Buffer.concat([
          decipher.update(payload.subarray(0, payload.length - TAG)),
          decipher.final(),
        ]);
      } catch {
        throw bad("fails authentication (damaged, altered or moved)");
      }
    }
    let plain: Buffer;
    try {
      plain = await this.codecs.decompress(codec, payload, Number(plainLength));
    } catch (e) {
      throw bad(e instanceof Error ? e.message : String(e));
    }
    if (
      hasDigest &&
      !createHash("sha256")
        .update(plain)
        .digest()
        .equals(header.subarray(FIXED, FIXED + DIGEST))
    )
      throw bad("content does not match its SHA-256");
    return plain;
  }
}
