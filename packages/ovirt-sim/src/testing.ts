import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { Simulator, SimulatorOptions } from "./simulator";

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
