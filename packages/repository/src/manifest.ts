import { createHash } from "node:crypto";
import { z } from "zod";

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");
const byteCount = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const timestamp = z.iso.datetime({ offset: true });

export const MIN_CHUNK_SIZE = 4096;
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

export const chunkSizeSchema = z
  .number()
  .int()
  .min(MIN_CHUNK_SIZE)
  .max(MAX_CHUNK_SIZE)
  .refine((n) => n % 4096 === 0, "must be a multiple of 4096");

/** config.json: plain JSON, readable without the key, so that opening can say what the repository needs. */
export const repositoryConfigSchema = z.looseObject({
  format: z.literal("lifeboat-repository"),
  version: z.literal(1),
  id: z.uuid(),
  createdAt: timestamp,
  chunkSize: chunkSizeSchema,
  encryption: z.union([
    z.null(),
    z.looseObject({
      cipher: z.literal("aes-256-gcm"),
      kdf: z.literal("hkdf-sha256"),
      chunkIds: z.literal("hmac-sha256"),
      keyCheck: hex64,
    }),
  ]),
});
export type RepositoryConfig = z.infer<typeof repositoryConfigSchema>;

/** One fixed-size piece of a layer: a stored chunk, or a hole (all zeroes, nothing stored). */
export const layerEntrySchema = z.union([
  z.strictObject({ id: hex64, length: z.number().int().positive() }),
  z.strictObject({ hole: z.literal(true), length: z.number().int().positive() }),
]);
export type LayerEntry = z.infer<typeof layerEntrySchema>;

/** What the caller knows about a layer (oVirt's words); kept as given, extra fields included. */
export const layerMetaSchema = z.looseObject({
  imageId: z.string().min(1).optional(),
  parentImageId: z.string().min(1).nullable().optional(),
  diskId: z.string().min(1).optional(),
  format: z.string().optional(),
  virtualSize: byteCount.optional(),
});
export type LayerMeta = z.infer<typeof layerMetaSchema>;

export const layerManifestSchema = z.looseObject({
  version: z.literal(1),
  id: z.string().min(1),
  createdAt: timestamp,
  chunkSize: chunkSizeSchema,
  /** Bytes of the layer (the volume file as imageio serves it). */
  size: byteCount,
  /**
   * SHA-256 of the whole layer, zeroes included; for a layer written against a base (`digestOf: "entries"`)
   * the SHA-256 of its entries list (see entriesDigest), which commits to every byte through the chunk ids
   * without reading back the chunks it shares with the base.
   */
  sha256: hex64,
  digestOf: z.enum(["bytes", "entries"]).optional(),
  /** Bytes in stored (non-hole) chunks. */
  dataBytes: byteCount,
  /** Bytes the referenced chunks take in the repository, shared ones included. */
  storedBytes: byteCount,
  meta: layerMetaSchema,
  entries: z.array(layerEntrySchema),
});
export type LayerManifest = z.infer<typeof layerManifestSchema>;

/**
 * The digest of a layer's entries: one line per entry, `<chunk id> <length>` or `hole <length>`. Chunk ids
 * are SHA-256 (or HMAC-SHA-256) of the chunk's bytes, so this pins the layer's content as a whole-byte hash
 * would, and reading a chunk checks its bytes against its id.
 */
export function entriesDigest(entries: readonly LayerEntry[]): string {
  const h = createHash("sha256");
  for (const e of entries) h.update("id" in e ? `${e.id} ${e.length}\n` : `hole ${e.length}\n`);
  return h.digest("hex");
}

/** Entry `i` covers bytes [i * chunkSize, i * chunkSize + length); all full-size but the last. */
export function checkLayerEntries(m: LayerManifest): string | undefined {
  const expected = Math.ceil(m.size / m.chunkSize);
  if (m.entries.length !== expected)
    return `${m.entries.length} entries for ${m.size} bytes, expected ${expected}`;
  for (let i = 0; i < m.entries.length; i++) {
    const want = Math.min(m.chunkSize, m.size - i * m.chunkSize);
    if (m.entries[i]?.length !== want) return `entry ${i} is ${m.entries[i]?.length} bytes, expected ${want}`;
  }
  return undefined;
}

export const diskFormatSchema = z.enum(["cow", "raw"]);

export const restorePointLayerSchema = z.looseObject({
  imageId: z.string().min(1),
  /** The image this layer's qcow2 backs onto; null for a base layer. */
  parentImageId: z.string().min(1).nullable(),
  format: diskFormatSchema,
  virtualSize: byteCount,
  /** The layer manifest holding this layer's bytes. */
  layerId: z.string().min(1),
  sha256: hex64,
  size: byteCount,
});
export type RestorePointLayer = z.infer<typeof restorePointLayerSchema>;

export const restorePointDiskSchema = z.looseObject({
  diskId: z.string().min(1),
  alias: z.string(),
  /** Base first, each next layer backed by the one before. */
  layers: z.array(restorePointLayerSchema).min(1),
});
export type RestorePointDisk = z.infer<typeof restorePointDiskSchema>;

const restorePointFields = {
  id: z.string().min(1),
  createdAt: timestamp,
  vm: z.looseObject({ id: z.string().min(1), name: z.string() }),
  engine: z.looseObject({ url: z.string().min(1) }),
  /** The OVF as the engine returned it with all_content. */
  ovf: z.string(),
  disks: z.array(restorePointDiskSchema),
  tags: z.array(z.string()),
  description: z.string(),
};

/**
 * A restore point as the repository keeps it: everything a restore needs without the catalog. Loose
 * objects, so fields added later by the flows survive a read and write.
 */
export const restorePointManifestSchema = z.looseObject({
  version: z.literal(1),
  ...restorePointFields,
  state: z.literal("complete"),
});
export type RestorePointManifest = z.infer<typeof restorePointManifestSchema>;

/** What a caller passes to writeRestorePoint: the repository fills in version and state, id and date if absent. */
export const restorePointInputSchema = z.looseObject({
  ...restorePointFields,
  id: restorePointFields.id.optional(),
  createdAt: timestamp.optional(),
  tags: restorePointFields.tags.default([]),
  description: restorePointFields.description.default(""),
});
export type RestorePointInput = z.input<typeof restorePointInputSchema>;

export const sessionRecordSchema = z.looseObject({
  id: z.string(),
  label: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** Writer clock, ms since the epoch: everything the session writes or touches is newer. */
  startedAt: z.number(),
  /** The session's lease in ms (absent in records older than leases: SESSION_STALE_MS applies). */
  leaseMs: z.number().int().positive().optional(),
});
export type SessionRecord = z.infer<typeof sessionRecordSchema>;
