import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import path from "node:path";
import type { ClusterRec, SimStateData } from "./model";

/** Writes a file atomically: temp file in the same folder, fsync, rename. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
  const fd = openSync(tmp, "w", mode);
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function readJsonFile<T>(file: string): T | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The simulator's state file under the data dir; every mutation is saved with an atomic rewrite. */
export class Store {
  readonly file: string;

  constructor(
    readonly dataDir: string,
    public data: SimStateData,
  ) {
    this.file = path.join(dataDir, "state.json");
  }

  static load(dataDir: string): SimStateData | null {
    const data = readJsonFile<SimStateData>(path.join(dataDir, "state.json"));
    if (data && data.version !== 1)
      throw new Error(`${dataDir}/state.json has unknown version ${data.version}`);
    if (data) upgradeState(data);
    return data;
  }

  save(): void {
    writeFileAtomic(this.file, JSON.stringify(this.data));
  }

  diskDir(storageDomainId: string, diskId: string): string {
    return path.join(this.dataDir, "images", storageDomainId, diskId);
  }

  volumePath(storageDomainId: string, diskId: string, volumeId: string): string {
    return path.join(this.diskDir(storageDomainId, diskId), volumeId);
  }
}

/** States written before clusters had levels and the backup API existed: one cluster at 4.7, no backups. */
function upgradeState(data: SimStateData): void {
  const old = data as SimStateData & { cluster?: Omit<ClusterRec, "level"> };
  if (!data.clusters && old.cluster) data.clusters = [{ ...old.cluster, level: "4.7" }];
  delete old.cluster;
  data.backups ??= [];
  data.checkpoints ??= [];
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface LockInfo {
  pid: number;
  kind: "sim" | "write";
  since: number;
}

/**
 * Exclusive lock on a data dir (`<data>/sim.lock`): held by a running simulator for its lifetime and by a
 * direct `sim write` for the duration of the write. A lock left by a dead process is taken over.
 */
export function tryLockDataDir(dataDir: string, kind: LockInfo["kind"]): { release(): void } | LockInfo {
  const file = path.join(dataDir, "sim.lock");
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, JSON.stringify({ pid: process.pid, kind, since: Date.now() } satisfies LockInfo));
      closeSync(fd);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(file);
          } catch {
            // already gone
          }
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder: LockInfo | null = null;
      try {
        holder = readJsonFile<LockInfo>(file);
      } catch {
        holder = null; // half-written by a writer that died: treat as stale
      }
      if (holder && pidAlive(holder.pid)) return holder;
      try {
        unlinkSync(file);
      } catch {
        // someone else removed it first
      }
    }
  }
  throw new Error(`cannot lock ${dataDir}: sim.lock keeps changing`);
}

/** What a running simulator publishes in `<data>/sim.json` so that `sim write` can reach it. */
export interface Discovery {
  pid: number;
  engineUrl: string;
  adminUrl: string;
  adminToken: string;
  caFile: string;
  http: boolean;
}

export const discoveryFile = (dataDir: string) => path.join(dataDir, "sim.json");
