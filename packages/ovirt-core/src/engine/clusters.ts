import { z } from "zod";
import { type EngineClient, seg } from "./client";
import { type Ref, zBool, zCollection, zEnum, zRef } from "./json";

export interface Cluster {
  id: string;
  name: string;
  description?: string;
  dataCenter?: Ref;
  cpuType?: string;
  /** Compatibility version, e.g. "4.7". */
  version?: string;
}

const zVersion = z
  .object({ major: z.union([z.string(), z.number()]), minor: z.union([z.string(), z.number()]) })
  .transform((v) => `${v.major}.${v.minor}`);

const zCluster = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    description: z.string().optional(),
    data_center: zRef.optional(),
    cpu: z.object({ type: z.string().optional() }).optional(),
    version: zVersion.optional(),
  })
  .transform(
    (c): Cluster => ({
      id: c.id,
      name: c.name,
      description: c.description,
      dataCenter: c.data_center,
      cpuType: c.cpu?.type,
      version: c.version,
    }),
  );
const zClusters = zCollection("cluster", zCluster);

/** Clusters: `/clusters` (restore pickers). */
export class Clusters {
  constructor(private readonly engine: EngineClient) {}

  async list(opts: { search?: string; signal?: AbortSignal } = {}): Promise<Cluster[]> {
    return this.engine.get("/clusters", zClusters, { query: { search: opts.search }, signal: opts.signal });
  }

  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<Cluster> {
    return this.engine.get(`/clusters/${seg(id)}`, zCluster, opts);
  }
}

export interface DataCenter {
  id: string;
  name: string;
  description?: string;
  status?: string;
  local?: boolean;
  version?: string;
}

const zDataCenter = z
  .object({
    id: z.string().min(1),
    name: z.string(),
    description: z.string().optional(),
    status: zEnum.optional(),
    local: zBool.optional(),
    version: zVersion.optional(),
  })
  .transform((d): DataCenter => ({ ...d }));
const zDataCenters = zCollection("data_center", zDataCenter);

/** Data centers: `/datacenters`. */
export class DataCenters {
  constructor(private readonly engine: EngineClient) {}

  async list(opts: { search?: string; signal?: AbortSignal } = {}): Promise<DataCenter[]> {
    return this.engine.get("/datacenters", zDataCenters, {
      query: { search: opts.search },
      signal: opts.signal,
    });
  }

  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<DataCenter> {
    return this.engine.get(`/datacenters/${seg(id)}`, zDataCenter, opts);
  }
}
