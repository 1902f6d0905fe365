import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import type { EngineRecorder } from "./engine/recorder";
import type { ImageioRecorder } from "./imageio/recorder";
import { ensurePki } from "./pki";
import type { Simulator, SimulatorOptions } from "./simulator";
import { testHooksOf } from "./test-hooks";
import { openGuestView } from "./volumes/guest-view";

export type { EngineRecorder, EngineRequestRecord } from "./engine/recorder";
export type { ImageioRecorder, ImageioRequestRecord } from "./imageio/recorder";

const run = promisify(execFile);

/** What tests of code that drives the sim share: a quick sim, and the checks they make of it afterwards. */

/** Fast sim: the small seed (64–128 MiB disks, a few MiB of data) and short async delays. */
export const FAST_SIM: Partial<SimulatorOptions> = {
  seedScale: "small",
  asyncDelayMs: 30,
  transferPollMs: 30,
};

/** The path of a sim disk's active volume (its backing chain next to it). */
export function activeVolumePath(sim: Simulator, diskId: string): string {
  const vols = sim.state.volumes(diskId);
  const top = vols[vols.length - 1];
  if (!top) throw new Error(`disk ${diskId} has no volume`);
  return top.path;
}

/** `qemu-img compare` of two images (any format, backing chains followed): true when the guest data match. */
export async function qemuSame(a: string, b: string): Promise<boolean> {
  try {
    await run("qemu-img", ["compare", "-U", a, b]);
    return true;
  } catch (e) {
    if ((e as { code?: number }).code === 1) return false;
    throw e;
  }
}

/**
 * What a flow or job may leave on the sim: nothing. No disk that is not ok, no locked VM, no transfer that has
 * not finished, no daemon ticket, no temporary Lifeboat snapshot (but those in `kept`).
 */
export function simLeftovers(sim: Simulator, kept: string[] = []): string[] {
  const problems: string[] = [];
  for (const d of sim.state.disks()) if (d.status !== "ok") problems.push(`disk ${d.alias} is ${d.status}`);
  for (const v of sim.state.vms()) if (v.status === "image_locked") problems.push(`VM ${v.name} is locked`);
  for (const t of sim.state.transfers())
    if (!t.phase.startsWith("finished")) problems.push(`transfer ${t.id} is ${t.phase}`);
  for (const s of sim.state.snapshots())
    if (s.description.startsWith("Lifeboat backup") && !kept.includes(s.id))
      problems.push(`snapshot ${s.id} "${s.description}" remains`);
  if (sim.state.tickets().length > 0) problems.push(`${sim.state.tickets().length} imageio ticket(s) remain`);
  return problems;
}

export async function qemuImg(...args: string[]): Promise<string> {
  const { stdout } = await run("qemu-img", args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export interface QemuInfo {
  format: string;
  "virtual-size": number;
  "actual-size": number;
  "backing-filename"?: string;
  "backing-filename-format"?: string;
  "format-specific"?: { type: string; data: { compat?: string } };
}

export async function qemuInfo(file: string): Promise<QemuInfo> {
  return JSON.parse(await qemuImg("info", "--output=json", "-U", file)) as QemuInfo;
}

export interface QemuCheck {
  "check-errors": number;
  corruptions?: number;
  leaks?: number;
  "image-end-offset"?: number;
}

/** `qemu-img check` of one qcow2 file; throws with qemu's own words when the image is not clean. */
export async function qemuCheck(file: string): Promise<QemuCheck> {
  try {
    const out = await qemuImg("check", "--output=json", "-U", file);
    return JSON.parse(out) as QemuCheck;
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`qemu-img check ${file} failed: ${err.stdout ?? ""} ${err.stderr ?? err.message}`);
  }
}

/**
 * Runs `qemu-img info` on every volume file under a simulator data dir and `qemu-img check` on every qcow2
 * one; returns how many files were checked. Throws on the first unclean image.
 */
export async function checkAllVolumes(dataDir: string): Promise<{ qcow2: number; raw: number }> {
  const counts = { qcow2: 0, raw: 0 };
  const root = path.join(dataDir, "images");
  const walk = async (dir: string): Promise<void> => {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      return;
    }
    for (const name of entries) {
      const p = path.join(dir, name);
      const st = await stat(p);
      if (st.isDirectory()) await walk(p);
      else if (/^[0-9a-f-]{36}$/.test(name)) {
        const info = await qemuInfo(p);
        if (info.format === "qcow2") {
          const c = await qemuCheck(p);
          if (c["check-errors"] !== 0 || (c.corruptions ?? 0) !== 0 || (c.leaks ?? 0) !== 0)
            throw new Error(`qemu-img check ${p}: ${JSON.stringify(c)}`);
          counts.qcow2++;
        } else counts.raw++;
      }
    }
  };
  await walk(root);
  return counts;
}

/** A daemon ticket over a file of the test's own (`serveImage`). */
export interface ServeImageSpec {
  /** Default: a random UUID. */
  id?: string;
  /** The image file. Write tickets write it in place. */
  file: string;
  ops: Array<"read" | "write">;
  /**
   * `file` (default): the daemon's file backend, the bytes as they are, one data extent, `max_writers` 1.
   * `nbd`: the guest view of the image as qemu-nbd exports it (data and zero extents of a qcow2; a raw
   * image reads as all data, see the README), `max_writers` 8.
   */
  backend?: "file" | "nbd";
  /** Of the image behind an `nbd` ticket; default raw. */
  format?: "raw" | "qcow2";
  /** `nbd`: the image alone, unallocated areas as holes (a layer without its backing). */
  shallow?: boolean;
  /** Ticket size; default the file's size (file) or the image's virtual size (nbd). */
  size?: number;
  /** Named in the daemon's 403 texts (`Transfer=<id> expired`); default the ticket id. */
  transferId?: string;
  /** Seconds; default 300. */
  timeoutS?: number;
}

export interface ServedImage {
  id: string;
  /** On the daemon port (what `transfer_url` names). */
  url: string;
  /** The same ticket through the proxy port (`proxy_url`). */
  proxyUrl: string;
}

/**
 * Adds a ticket to the simulated daemon straight over a file, as vdsm adds one for a volume, without an
 * engine transfer: for tests of imageio clients that need chosen bytes and extents.
 */
export async function serveImage(sim: Simulator, spec: ServeImageSpec): Promise<ServedImage> {
  const { tickets } = testHooksOf(sim);
  const id = spec.id ?? randomUUID();
  const file = path.resolve(spec.file);
  const backend = spec.backend ?? "file";
  const layers = [{ id, path: file, format: spec.format === "qcow2" ? ("cow" as const) : ("raw" as const) }];
  let size = spec.size;
  if (size === undefined) {
    if (backend === "file") size = (await stat(file)).size;
    else {
      const view = await openGuestView(layers, { shallow: spec.shallow });
      size = view.size;
      await view.close();
    }
  }
  const ticket = {
    uuid: id,
    size,
    ops: spec.ops,
    timeout: spec.timeoutS ?? 300,
    url: backend === "file" ? pathToFileURL(file).href : `nbd:unix:${file}.sock`,
    inactivity_timeout: 60,
    sparse: false,
    dirty: false,
    transfer_id: spec.transferId ?? id,
  };
  if (backend === "file") tickets.add(ticket);
  else tickets.add(ticket, { kind: "nbd", layers, shallow: spec.shallow ?? false, lockKey: file });
  return { id, url: `${sim.imageioUrl}/images/${id}`, proxyUrl: `${sim.proxyUrl}/images/${id}` };
}

/** Ends a ticket's lifetime now, as `PATCH /tickets/<id> {"timeout": 0}` does: its requests get 403 expired. */
export function expireTicket(sim: Simulator, id: string): void {
  const t = testHooksOf(sim).tickets.get(id);
  if (!t) throw new Error(`no ticket ${id}`);
  t.extend(0);
}

/** Removes a daemon ticket (as `DELETE /tickets/<id>`), waiting for its requests in flight. */
export async function removeTicket(sim: Simulator, id: string): Promise<void> {
  await testHooksOf(sim).tickets.remove(id);
}

/** Connections open right now that carried a request of this ticket (the daemon's `connections`). */
export function ticketConnections(sim: Simulator, id: string): number {
  return testHooksOf(sim).tickets.get(id)?.connections.size ?? 0;
}

/**
 * Starts recording the daemon's and proxy's requests (method, ticket, range, Content-Range, query, PATCH
 * body, connection, status) and each ticket's concurrency; returns the recorder, cleared.
 */
export function recordImageio(sim: Simulator): ImageioRecorder {
  const r = testHooksOf(sim).imageioRecorder;
  r.clear();
  r.enabled = true;
  return r;
}

/**
 * A CA of its own under `<dir>/pki/` (made as a simulator makes its CA): it signed no simulator's certificate,
 * so trusting it alone must make a client refuse the simulator.
 */
export function makeUnrelatedCa(dir: string): { caPem: string; caFile: string } {
  const { caPem, caFile } = ensurePki(dir, "127.0.0.1");
  return { caPem, caFile };
}

/**
 * Starts recording the engine port's requests (SSO, logout and API: method, path, query, headers, body);
 * returns the recorder, cleared.
 */
export function recordEngine(sim: Simulator): EngineRecorder {
  const r = testHooksOf(sim).engineRecorder;
  r.clear();
  r.enabled = true;
  return r;
}
