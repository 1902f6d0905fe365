import { randomBytes } from "node:crypto";
import type { Dirent } from "node:fs";
import fs, { type FileHandle } from "node:fs/promises";
import path from "node:path";
import { checkKey, type ObjectEntry, type ObjectInfo, type RepositoryBackend } from "./backend";
import { CorruptObjectError, ObjectNotFoundError, RepositoryFullError } from "./errors";

// Work files sit beside their target with a leading dot (keys never start with one): `.<name>.<rand>.tmp`
// for a write in progress, `.<name>.<rand>.trash` for an object a conditional delete has set aside.
const WORK_FILE = /^\.(.+)\.[0-9a-f]{12}\.(tmp|trash)$/;

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

const absent = (e: unknown) => errno(e) === "ENOENT" || errno(e) === "ENOTDIR";
/** Out of space on the device, or over the user's quota. */
const full = (e: unknown) => errno(e) === "ENOSPC" || errno(e) === "EDQUOT";

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, "r");
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

async function writeAll(fh: FileHandle, parts: readonly Buffer[]): Promise<void> {
  let pending = parts.filter((p) => p.length > 0);
  while (pending.length > 0) {
    let { bytesWritten } = await fh.writev(pending);
    // writev may stop short: drop what went out and go on with the rest.
    const rest: Buffer[] = [];
    for (const p of pending) {
      if (bytesWritten >= p.length) bytesWritten -= p.length;
      else {
        rest.push(bytesWritten > 0 ? p.subarray(bytesWritten) : p);
        bytesWritten = 0;
      }
    }
    pending = rest;
  }
}

export interface LocalDirectoryBackendOptions {
  /**
   * fsync every object and its folder before a write counts as done (default true). Turning it off trades
   * crash safety for speed; only for throw-away repositories.
   */
  durable?: boolean;
}

/**
 * The default backend: one file per object under `root`, keys mapped to relative paths. Writes go to a temp
 * file in the same folder, are fsynced, renamed into place and the folder fsynced, so an object is either
 * absent or complete after a crash.
 */
export class LocalDirectoryBackend implements RepositoryBackend {
  readonly location: string;
  private readonly durable: boolean;
  private readonly readyDirs = new Set<string>();

  constructor(
    readonly root: string,
    options: LocalDirectoryBackendOptions = {},
  ) {
    this.root = path.resolve(root);
    this.location = this.root;
    this.durable = options.durable ?? true;
  }

  private file(key: string): string {
    return path.join(this.root, ...checkKey(key).split("/"));
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.readyDirs.has(dir)) return;
    const first = await fs.mkdir(dir, { recursive: true });
    if (first !== undefined && this.durable) {
      // New folders are entries of their parents: make those entries durable too.
      const stop = path.dirname(first);
      for (let d = dir; d !== stop; d = path.dirname(d)) await fsyncDir(path.dirname(d));
    }
    this.readyDirs.add(dir);
  }

  async put(
    key: string,
    data: Buffer | readonly Buffer[],
    options: { ifAbsent?: boolean } = {},
  ): Promise<boolean> {
    try {
      return await this.putFile(key, data, options);
    } catch (e) {
      // The temp file is gone already (putFile removes it on every failure): say what the operator can do.
      if (full(e)) throw new RepositoryFullError(this.location, key, { cause: e });
      throw e;
    }
  }

  private async putFile(
    key: string,
    data: Buffer | readonly Buffer[],
    options: { ifAbsent?: boolean },
  ): Promise<boolean> {
    const file = this.file(key);
    const dir = path.dirname(file);
    await this.ensureDir(dir);
    const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
    const fh = await fs.open(tmp, "wx", 0o640);
    try {
      await writeAll(fh, Buffer.isBuffer(data) ? [data] : data);
      if (this.durable) await fh.sync();
      await fh.close();
    } catch (e) {
      await fh.close().catch(() => {});
      await fs.rm(tmp, { force: true });
      throw e;
    }
    let stored = true;
    try {
      if (options.ifAbsent) {
        // link() fails on an existing name, which rename() would silently replace.
        try {
          await fs.link(tmp, file);
        } catch (e) {
          if (errno(e) !== "EEXIST") throw e;
          stored = false;
        }
        await fs.rm(tmp, { force: true });
      } else {
        await fs.rename(tmp, file);
      }
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    if (this.durable) await fsyncDir(dir);
    return stored;
  }

  async get(key: string, options: { maxBytes?: number } = {}): Promise<Buffer> {
    let fh: FileHandle;
    try {
      fh = await fs.open(this.file(key), "r");
    } catch (e) {
      if (absent(e)) throw new ObjectNotFoundError(key);
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (options.maxBytes !== undefined && size > options.maxBytes)
        throw new CorruptObjectError(
          key,
          `${size} bytes, more than the ${options.maxBytes} an object of its kind can be`,
        );
      const buf = Buffer.allocUnsafe(size);
      let done = 0;
      while (done < size) {
        const { bytesRead } = await fh.read(buf, done, size - done, done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === size ? buf : buf.subarray(0, done);
    } finally {
      await fh.close();
    }
  }

  async has(key: string): Promise<boolean> {
    return (await this.stat(key)) !== undefined;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const st = await fs.stat(this.file(key));
      return { size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      if (absent(e)) return undefined;
      throw e;
    }
  }

  async touch(key: string): Promise<ObjectInfo | undefined> {
    const file = this.file(key);
    const now = new Date();
    try {
      await fs.utimes(file, now, now);
      const st = await fs.stat(file);
      return { size: st.size, mtimeMs: st.mtimeMs };
    } catch (e) {
      if (absent(e)) return undefined;
      throw e;
    }
  }

  async delete(key: string): Promise<boolean> {
    try {
      await fs.unlink(this.file(key));
      return true;
    } catch (e) {
      if (absent(e)) return false;
      throw e;
    }
  }

  async deleteIfUnmodifiedSince(key: string, cutoffMs: number): Promise<number | undefined> {
    const file = this.file(key);
    const trash = path.join(
      path.dirname(file),
      `.${path.basename(file)}.${randomBytes(6).toString("hex")}.trash`,
    );
    // Set the object aside first, then look at its time: a touch that landed before the rename shows in the
    // stat; a touch after it finds nothing and the writer stores the object again.
    try {
      await fs.rename(file, trash);
    } catch (e) {
      if (absent(e)) return undefined;
      throw e;
    }
    let st: Awaited<ReturnType<typeof fs.stat>>;
    try {
      st = await fs.stat(trash);
    } catch (e) {
      if (absent(e)) return undefined; // another sweeper put it back meanwhile
      throw e;
    }
    if (st.mtimeMs >= cutoffMs) {
      await restoreTrash(trash, file);
      return undefined;
    }
    try {
      await fs.unlink(trash);
    } catch (e) {
      if (absent(e)) return undefined;
      throw e;
    }
    return Number(st.size);
  }

  async *list(prefix: string): AsyncIterable<ObjectEntry> {
    if (prefix !== "" && !prefix.endsWith("/")) throw new Error(`list prefix must end with '/': ${prefix}`);
    const base = prefix === "" ? this.root : this.file(prefix.slice(0, -1));
    for await (const { file, rel, dirent } of walk(base, "")) {
      if (dirent.name.startsWith(".") || !dirent.isFile()) continue;
      try {
        const st = await fs.stat(file);
        yield { key: prefix + rel, size: st.size, mtimeMs: st.mtimeMs };
      } catch (e) {
        if (!absent(e)) throw e; // deleted between readdir and stat
      }
    }
  }

  async sweepIncomplete(cutoffMs: number): Promise<{ count: number; bytes: number }> {
    let count = 0;
    let bytes = 0;
    for await (const { file, dirent } of walk(this.root, "")) {
      const m = WORK_FILE.exec(dirent.name);
      if (!m || !dirent.isFile()) continue;
      if (m[2] === "trash") {
        // A conditional delete was cut short: put the object back; a later sweep decides again.
        await restoreTrash(file, path.join(path.dirname(file), m[1] ?? ""));
        continue;
      }
      try {
        const st = await fs.stat(file);
        if (st.mtimeMs >= cutoffMs) continue; // a write that may still be going on
        await fs.unlink(file);
        count++;
        bytes += st.size;
      } catch (e) {
        if (!absent(e)) throw e;
      }
    }
    return { count, bytes };
  }
}

async function restoreTrash(trash: string, file: string): Promise<void> {
  try {
    await fs.link(trash, file);
  } catch (e) {
    // EEXIST: the object was stored again meanwhile, that copy wins. ENOENT: someone else restored it.
    if (errno(e) !== "EEXIST" && !absent(e)) throw e;
  }
  await fs.rm(trash, { force: true });
}

async function* walk(dir: string, rel: string): AsyncIterable<{ file: string; rel: string; dirent: Dirent }> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (absent(e)) return;
    throw e;
  }
  for (const dirent of entries) {
    const file = path.join(dir, dirent.name);
    const r = rel === "" ? dirent.name : `${rel}/${dirent.name}`;
    if (dirent.isDirectory()) {
      if (!dirent.name.startsWith(".")) yield* walk(file, r);
    } else yield { file, rel: r, dirent };
  }
}
