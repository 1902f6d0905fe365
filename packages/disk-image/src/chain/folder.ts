import { readdir, stat } from "node:fs/promises";
import path from "node:path";
import { openFileSource } from "../io";
import { detectImageFormat, readQcow2Header } from "../qcow2";
import { type ChainLink, composeChain } from "./compose";

/** A layer file found in a folder, with what its header says. */
export interface LayerFile extends ChainLink {
  path: string;
  format: "qcow2" | "raw";
  /** From the qcow2 backing format extension, if any. */
  backingFormat: string | null;
  virtualSize: number;
}

/** Reads one file's format and backing name (Qcow2Error for unreadable qcow2 headers). */
export async function readLayerFile(filePath: string): Promise<LayerFile> {
  const src = await openFileSource(filePath);
  try {
    const name = path.basename(filePath);
    if ((await detectImageFormat(src)) === "raw")
      return {
        name,
        path: filePath,
        format: "raw",
        backingName: null,
        backingFormat: null,
        virtualSize: src.size,
      };
    const h = await readQcow2Header(src, name);
    return {
      name,
      path: filePath,
      format: "qcow2",
      backingName: h.backingFile,
      backingFormat: h.backingFormat,
      virtualSize: h.size,
    };
  } finally {
    await src.close();
  }
}

/** Every regular, non-hidden file of `dir` as a layer (unordered). */
export async function readLayerFiles(dir: string): Promise<LayerFile[]> {
  const names = (await readdir(dir)).filter((n) => !n.startsWith(".")).sort();
  const layers: LayerFile[] = [];
  for (const n of names) {
    const p = path.join(dir, n);
    if ((await stat(p)).isFile()) layers.push(await readLayerFile(p));
  }
  return layers;
}

/** The layer files of one disk in `dir`, ordered base → top (ChainError / Qcow2Error naming the files). */
export async function composeChainFromFolder(dir: string): Promise<LayerFile[]> {
  return composeChain(await readLayerFiles(dir));
}
