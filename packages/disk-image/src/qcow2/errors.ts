/**
 * A qcow2 image we cannot or will not read. The message names the file (or source) and the header field or
 * table entry at fault, because that is what an operator needs to find the bad volume.
 */
export class Qcow2Error extends Error {
  override name = "Qcow2Error";
  constructor(
    /** File name or source label. */
    readonly source: string,
    /** Header field or structure (`cluster_bits`, `L2 entry for guest offset 65536`...). */
    readonly field: string,
    detail: string,
  ) {
    super(`${source}: qcow2 ${field}: ${detail}`);
  }
}
