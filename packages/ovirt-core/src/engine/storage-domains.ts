import { z } from "zod";
import { type EngineClient, seg } from "./client";
import { EngineStateError } from "./errors";
import { type Ref, zBigInt, zBool, zCollection, zEnum, zInt, zNested, zRef } from "./json";
import { searchValue } from "./vms";

export interface StorageDomain {
  id: string;
  name: string;
  description?: string;
  /** `data | iso | export | image | volume | managed_block_storage`. */
  type?: string;
  /** Only in data-center context; the top-level listing often has `externalStatus` instead. */
  status?: string;
  externalStatus?: string;
  /** `nfs | iscsi | fcp | localfs | posixfs | glusterfs | ...`. */
  storageType?: string;
  available?: bigint;
  used?: bigint;
  committed?: bigint;
  master?: boolean;
  storageFormat?: string;
  blockSize?: number;
  backup?: boolean;
  dataCenters: Ref[];
}

const zStorageDomain = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    description: z.string().optional(),
    type: zEnum.optional(),
    status: zEnum.optional(),
    external_status: zEnum.optional(),
    storage: z.object({ type: zEnum.optional() }).optional(),
    available: zBigInt.optional(),
    used: zBigInt.optional(),
    committed: zBigInt.optional(),
    master: zBool.optional(),
    storage_format: zEnum.optional(),
    block_size: zInt.optional(),
    backup: zBool.optional(),
    data_centers: zNested("data_center", zRef),
  })
  .transform(
    (s): StorageDomain => ({
      id: s.id,
      name: s.name,
      description: s.description,
      type: s.type,
      status: s.status,
      externalStatus: s.external_status,
      storageType: s.storage?.type,
      available: s.available,
      used: s.used,
      committed: s.committed,
      master: s.master,
      storageFormat: s.storage_format,
      blockSize: s.block_size,
      backup: s.backup,
      dataCenters: s.data_centers,
    }),
  );
const zStorageDomains = zCollection("storage_domain", zStorageDomain);

/** Storage domains: `/storagedomains`. */
export class StorageDomains {
  constructor(private readonly engine: EngineClient) {}

  async list(opts: { search?: string; signal?: AbortSignal } = {}): Promise<StorageDomain[]> {
    return this.engine.get("/storagedomains", zStorageDomains, {
      query: { search: opts.search },
      signal: opts.signal,
    });
  }

  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<StorageDomain> {
    return this.engine.get(`/storagedomains/${seg(id)}`, zStorageDomain, opts);
  }

  /** The domain with exactly this name, or undefined. */
  async findByName(name: string, opts: { signal?: AbortSignal } = {}): Promise<StorageDomain | undefined> {
    const found = await this.list({ search: `name=${searchValue(name)}`, signal: opts.signal });
    return found.find((s) => s.name === name);
  }

  /** The domain with exactly this name; an error naming it when there is none. */
  async byName(name: string, opts: { signal?: AbortSignal } = {}): Promise<StorageDomain> {
    const sd = await this.findByName(name, opts);
    if (!sd)
      throw new EngineStateError("storage domain", name, "missing", `no storage domain named "${name}"`);
    return sd;
  }
}
