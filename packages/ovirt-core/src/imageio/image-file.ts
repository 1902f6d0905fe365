import { stat } from "node:fs/promises";
import { detectImageFormat, openFileSource, openImageChainFromFile } from "@lifeboat/disk-image";
import { ImageioError } from "./errors";
import { guestSegments } from "./guest-segments";
import type { ImageSegment } from "./types";

/**
 * What an image transfer's ticket takes (ref §5.11): `raw`, guest data (the NBD backend: a transfer with
 * `format=raw`, which qemu writes into the volume's own format), or `cow`, the volume's qcow2 file bytes as they
 * are (the file backend of a cow volume).
 */
export type TransferFormat = "raw" | "cow";

/** A local image file made ready for a ticket: what to send and how many bytes of the ticket it covers. */
export interface ImageFileUpload {
  /** The file's format: given, or read from its first bytes. */
  format: "raw" | "qcow2";
  /** Bytes the ticket must take: the guest size for `raw` tickets, the file's size for `cow` ones. */
  size: number;
  /** A path (its bytes as they are) or the guest data of the file's backing chain. */
  source: string | AsyncIterable<ImageSegment>;
  /**
   * Guest data of a chain has ranges no layer allocates; they read as zeroes and are written as zeroes, since
   * the target may hold older data there.
   */
  zeroHoles: boolean;
  close(): Promise<void>;
}

const mib = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MiB`;
const bytes = (n: number) => `${n} bytes (${mib(n)})`;

/**
 * Opens `file` for an upload into a ticket of `ticketSize` bytes, refusing, before anything is written, what the
 * ticket cannot take whole: a source larger than the ticket, or raw bytes for a ticket that takes qcow2. A qcow2
 * source for a `raw` ticket becomes its guest data (its backing chain included), as the reference client sends it.
 */
export async function openImageFileUpload(
  file: string,
  opts: {
    ticketSize: number;
    transferFormat?: TransferFormat;
    /** The source's format when its first bytes must not decide (a raw disk may begin with the qcow2 magic). */
    format?: "raw" | "qcow2";
    signal?: AbortSignal;
  },
): Promise<ImageFileUpload> {
  const transferFormat = opts.transferFormat ?? "raw";
  const st = await stat(file);
  if (!st.isFile() && !st.isBlockDevice()) throw refused(`${file} is not a file`);
  let format = opts.format;
  if (!format) {
    const src = await openFileSource(file);
    try {
      format = await detectImageFormat(src);
    } finally {
      await src.close();
    }
  }
  const tooLarge = (what: string, size: number) =>
    refused(`${file}: its ${what} is ${bytes(size)}, but the ticket takes at most ${bytes(opts.ticketSize)}`);

  if (transferFormat === "cow") {
    if (format === "raw")
      throw refused(
        `${file} is a raw image, but the ticket takes a qcow2 volume's bytes (transfer format cow): convert it ` +
          "first (qemu-img convert -O qcow2), or upload its guest data through a transfer with format raw",
      );
    if (st.size > opts.ticketSize) throw tooLarge("qcow2 file size", st.size);
    return { format, size: st.size, source: file, zeroHoles: false, close: async () => undefined };
  }
  if (format === "raw") {
    if (st.size > opts.ticketSize) throw tooLarge("size", st.size);
    return { format, size: st.size, source: file, zeroHoles: false, close: async () => undefined };
  }
  const chain = await openImageChainFromFile(file);
  try {
    if (chain.top.format !== "qcow2") throw refused(`${file} was given as qcow2 but is not a qcow2 image`);
    if (chain.virtualSize > opts.ticketSize) throw tooLarge("virtual size", chain.virtualSize);
  } catch (e) {
    await chain.close();
    throw e;
  }
  return {
    format,
    size: chain.virtualSize,
    source: guestSegments(chain, 0, chain.virtualSize, opts.signal),
    zeroHoles: true,
    close: () => chain.close(),
  };
}

function refused(message: string): ImageioError {
  return new ImageioError({ status: 0, message: `upload refused: ${message}` });
}
