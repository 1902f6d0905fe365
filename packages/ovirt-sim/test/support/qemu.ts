import { qemuImg } from "../../src/testing";

export {
  checkAllVolumes,
  type QemuCheck,
  type QemuInfo,
  qemuCheck,
  qemuImg,
  qemuInfo,
} from "../../src/testing";

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
