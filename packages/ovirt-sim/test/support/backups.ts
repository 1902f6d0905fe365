import { createHash, randomBytes } from "node:crypto";
import type { Simulator } from "../../src/index";
import { finalize, startTransfer } from "./flows";
import { type EngineHttp, io, type Json } from "./sim";

/** Helpers of the backup API suites: start a backup, read a disk through its ticket, compare with the guest. */

const PIECE = 8 * 1024 * 1024;
export const KiB64 = 64 * 1024;

export async function startBackup(
  api: EngineHttp,
  vmId: string,
  body: Record<string, unknown> = {},
  query = "",
): Promise<Json> {
  const a = await api.post(`/vms/${vmId}/backups${query}`, body);
  if (a.status !== 201) throw new Error(`backup add: ${a.status} ${a.text}`);
  return a.json;
}

/** Polls the backup until `ready`; returns every phase seen on the way. */
export async function waitReady(
  api: EngineHttp,
  vmId: string,
  id: string,
): Promise<{ backup: Json; seen: string[] }> {
  const seen: string[] = [];
  const backup = await api.waitFor(`/vms/${vmId}/backups/${id}`, (j) => {
    if (seen[seen.length - 1] !== j.phase) seen.push(j.phase);
    if (j.phase === "failed") throw new Error(`backup ${id} failed`);
    return j.phase === "ready";
  });
  return { backup, seen };
}

export async function finalizeBackup(api: EngineHttp, vmId: string, id: string): Promise<Json> {
  const f = await api.post(`/vms/${vmId}/backups/${id}/finalize`, {});
  if (f.status !== 200) throw new Error(`backup finalize: ${f.status} ${f.text}`);
  return api.waitFor(`/vms/${vmId}/backups/${id}`, (j) => j.phase === "succeeded" || j.phase === "failed");
}

export async function backupDisks(
  api: EngineHttp,
  vmId: string,
  id: string,
): Promise<Record<string, string>> {
  const j = await api.ok(`/vms/${vmId}/backups/${id}/disks`);
  return Object.fromEntries((j.disk ?? []).map((d: Json) => [d.id, d.backup_mode]));
}

/** A download transfer of one disk of a backup, transferring. */
export function backupTransfer(
  api: EngineHttp,
  backupId: string,
  diskId: string,
  extra: Record<string, unknown> = {},
) {
  return startTransfer(api, {
    direction: "download",
    format: "raw",
    disk: { id: diskId },
    backup: { id: backupId },
    ...extra,
  });
}

export async function extents(api: EngineHttp, url: string, context: "zero" | "dirty") {
  const r = await io(api.agent, "GET", `${url}/extents?context=${context}`);
  return {
    status: r.status,
    list: r.status === 200 ? (JSON.parse(r.body.toString()) as Json[]) : [],
    text: r.body.toString(),
  };
}

async function getRange(api: EngineHttp, url: string, offset: number, length: number): Promise<Buffer> {
  const r = await io(api.agent, "GET", url, { headers: { range: `bytes=${offset}-${offset + length - 1}` } });
  if (r.status !== 206) throw new Error(`GET ${offset}+${length}: ${r.status} ${r.body.toString()}`);
  return r.body;
}

/** sha256 of the whole image a ticket serves, reading only data extents (zero extents hashed as zeroes). */
export async function ticketSha(api: EngineHttp, url: string): Promise<string> {
  const h = createHash("sha256");
  for (const e of (await extents(api, url, "zero")).list)
    for (let pos = e.start; pos < e.start + e.length; pos += PIECE) {
      const n = Math.min(PIECE, e.start + e.length - pos);
      h.update(e.zero ? Buffer.alloc(n) : await getRange(api, url, pos, n));
    }
  return h.digest("hex");
}

/** sha256 of a disk's guest view now. */
export async function guestSha(sim: Simulator, diskId: string, size: number): Promise<string> {
  const h = createHash("sha256");
  for (let pos = 0; pos < size; pos += PIECE)
    h.update(await sim.guest.read(diskId, pos, Math.min(PIECE, size - pos)));
  return h.digest("hex");
}

/** Writes `n` random 64 KiB-aligned regions (1–4 clusters each) and returns them as merged [start, end) pairs. */
export async function writeRegions(
  sim: Simulator,
  diskId: string,
  size: number,
  n: number,
): Promise<Array<[number, number]>> {
  const ranges: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const len = KiB64 * (1 + Math.floor(Math.random() * 4));
    const start = Math.floor(Math.random() * ((size - len) / KiB64)) * KiB64;
    await sim.guest.writeAt(diskId, start, randomBytes(len));
    ranges.push([start, start + len]);
  }
  return mergeRanges(ranges);
}

export function mergeRanges(ranges: Array<[number, number]>): Array<[number, number]> {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [];
  for (const [s, e] of sorted) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** The dirty extents as merged [start, end) pairs. */
export const dirtyRanges = (list: Json[]) =>
  mergeRanges(list.filter((e) => e.dirty).map((e) => [e.start, e.start + e.length] as [number, number]));

export async function readBackupDisk(api: EngineHttp, backupId: string, diskId: string) {
  const tr = await backupTransfer(api, backupId, diskId);
  const sha = await ticketSha(api, tr.transfer_url);
  await finalize(api, tr.id);
  return sha;
}
