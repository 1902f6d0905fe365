import { execFile } from "node:child_process";
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
