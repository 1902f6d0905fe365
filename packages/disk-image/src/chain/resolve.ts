import { realpath } from "node:fs/promises";
import path from "node:path";
import { openFileSource, type RandomAccessSource } from "../io";
import { detectImageFormat, ImageChain, readQcow2Header } from "../qcow2";
import { ChainError } from "./compose";

/** Deeper than any real oVirt chain; stops pathological but loop-free inputs. */
const MAX_CHAIN_DEPTH = 1000;

/**
 * The files of `filePath`'s backing chain, base → top, resolved as qemu does: a relative backing name
 * (oVirt's bare parent UUID included) is taken relative to the folder of the file that names it.
 */
export async function resolveBackingChain(filePath: string): Promise<string[]> {
  const chain: string[] = [];
  const seen = new Set<string>();
  let current: string | null = filePath;
  while (current !== null) {
    let real: string;
    try {
      real = await realpath(current);
    } catch (e) {
      const referrer = chain[chain.length - 1];
      if (referrer === undefined) throw e;
      throw new ChainError(
        `${referrer}: backing file ${current} cannot be opened (${(e as NodeJS.ErrnoException).code ?? e})`,
      );
    }
    if (seen.has(real))
      throw new ChainError(`backing files form a loop: ${[...chain, current].join(" -> ")}`);
    if (chain.length >= MAX_CHAIN_DEPTH)
      throw new ChainError(`${filePath}: backing chain is deeper than ${MAX_CHAIN_DEPTH}`);
    seen.add(real);
    chain.push(current);
    const src = await openFileSource(current);
    try {
      if ((await detectImageFormat(src)) === "raw") break;
      const backing: string | null = (await readQcow2Header(src, current)).backingFile;
      current =
        backing === null
          ? null
          : path.isAbsolute(backing)
            ? backing
            : path.join(path.dirname(current), backing);
    } finally {
      await src.close();
    }
  }
  return chain.reverse();
}

/** Opens `filePath` with its whole backing chain. Close the chain to close the files. */
export async function openImageChainFromFile(filePath: string): Promise<ImageChain> {
  const files = await resolveBackingChain(filePath);
  const sources: RandomAccessSource[] = [];
  try {
    for (const f of files) sources.push(await openFileSource(f));
    return await ImageChain.open(sources.map((src, i) => ({ src, name: files[i]! })));
  } catch (e) {
    await Promise.allSettled(sources.map((s) => s.close()));
    throw e;
  }
}
