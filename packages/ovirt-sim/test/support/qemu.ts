import { execFile } from "node:child_process";
import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

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

/** Guest data of an image (following its backing chain) as qemu reads it. */
export async function qemuGuestBytes(file: string, outFile: string): Promise<void> {
  await qemuImg("convert", "-U", "-O", "raw", file, outFile);
}

export interface QemuMapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
}

export async function qemuMap(file: string): Promise<QemuMapEntry[]> {
  return JSON.parse(await qemuImg("map", "--output=json", "-U", file)) as QemuMapEntry[];
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
