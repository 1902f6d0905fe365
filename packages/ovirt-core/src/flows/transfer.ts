import type { RandomAccessSource } from "@lifeboat/disk-image";
import { type EngineClient, type ImageTransfer, ImageTransferFailedError } from "../engine";
import { ImageioTicket, type ImageSegment, type TransferProgress } from "../imageio";
import { cleanupRecords } from "./cleanup";
import type { FlowContext } from "./context";
import type { ImageioSettings } from "./types";

/** Generous: a backup may pause between requests (hashing, a slow repository); the engine default is 60 s. */
const INACTIVITY_TIMEOUT_S = 600;

/**
 * One image transfer of a flow, from creation to its end: journaled on creation, finalized (or cancelled) and
 * journaled as removed once the engine reports it finished.
 */
export class FlowTransfer {
  ended = false;

  private constructor(
    private readonly ctx: FlowContext,
    private readonly engine: EngineClient,
    readonly transfer: ImageTransfer,
    readonly diskId: string,
    readonly purpose: string,
  ) {}

  get id(): string {
    return this.transfer.id;
  }

  /**
   * Adds the transfer, journals it, and waits for `transferring`. If it does not get there it is cancelled,
   * so no ticket or disk lock is left behind.
   */
  static async start(
    ctx: FlowContext,
    engine: EngineClient,
    spec: {
      direction: "upload" | "download";
      diskId: string;
      snapshot?: string;
      /** A disk of a VM backup (backup API): with `format: raw`, the guest data at the backup's point. */
      backup?: string;
      format?: "raw" | "cow";
    },
    purpose: string,
    correlationId?: string,
  ): Promise<FlowTransfer> {
    const added = await engine.imageTransfers.add(
      {
        direction: spec.direction,
        ...(spec.snapshot !== undefined ? { snapshot: spec.snapshot } : { disk: spec.diskId }),
        ...(spec.backup !== undefined ? { backup: spec.backup } : {}),
        ...(spec.format !== undefined ? { format: spec.format } : {}),
        inactivityTimeout: INACTIVITY_TIMEOUT_S,
        correlationId,
      },
      { signal: ctx.signal },
    );
    await ctx.record({
      kind: "image_transfer",
      id: added.id,
      diskId: spec.diskId,
      state: "created",
      purpose,
    });
    const ft = new FlowTransfer(ctx, engine, added, spec.diskId, purpose);
    try {
      const t = await engine.imageTransfers.waitTransferring(
        added.id,
        ctx.wait(ctx.deadlines.transferStartMs),
      );
      return new FlowTransfer(ctx, engine, t, spec.diskId, purpose);
    } catch (e) {
      await ft.cancel();
      throw e;
    }
  }

  /** Opens the imageio ticket: transfer_url, or proxy_url when the host cannot be reached. */
  async open(
    imageio: ImageioSettings,
    opts: { onProgress?: (p: TransferProgress) => void } = {},
  ): Promise<ImageioTicket> {
    if (!this.transfer.transferUrl && !this.transfer.proxyUrl)
      throw new ImageTransferFailedError(
        this.id,
        this.transfer.phase,
        `image transfer ${this.id} has no URL`,
      );
    const ticket = await ImageioTicket.open(
      {
        transferUrl: (this.transfer.transferUrl ?? this.transfer.proxyUrl) as string,
        proxyUrl: this.transfer.transferUrl ? this.transfer.proxyUrl : undefined,
      },
      {
        caPem: imageio.caPem,
        insecure: imageio.insecure,
        workers: imageio.workers,
        signal: this.ctx.signal,
        onProgress: opts.onProgress,
        logger: (line) => this.ctx.event("warn", this.ctx.step, line, { transferId: this.id }),
      },
    );
    if (ticket.usedProxy)
      this.ctx.event(
        "warn",
        this.ctx.step,
        "the host's imageio cannot be reached; using the engine's proxy",
        {
          transferId: this.id,
        },
      );
    return ticket;
  }

  /**
   * Finalizes (all data connections must be closed first, ref §8.1) and waits for `finished_success`; 409 and
   * 5xx answers to finalize are retried. Throws with the engine's words when the engine fails it (e.g. an upload
   * that does not verify).
   */
  async finalize(): Promise<void> {
    const deadline = this.ctx.deadline(this.ctx.deadlines.transferFinishMs);
    await this.ctx.retryBusy(
      `finalizing image transfer ${this.id}`,
      deadline,
      () => this.engine.imageTransfers.finalize(this.id, { signal: this.ctx.signal }),
      this.ctx.signal,
    );
    await this.engine.imageTransfers.waitFinished(this.id, {
      diskId: this.diskId,
      deadline,
      signal: this.ctx.signal,
    });
    await this.ended_();
  }

  /**
   * Cancels the transfer and waits until the engine is done with it (for an upload the engine then deletes the
   * disk). Never throws: what cannot be cancelled becomes a leftover. Runs without the flow's AbortSignal.
   */
  async cancel(): Promise<void> {
    if (this.ended) return;
    const { cleaned } = await cleanupRecords(this.ctx, this.engine, [
      { kind: "image_transfer", id: this.id, diskId: this.diskId, state: "created", purpose: this.purpose },
    ]);
    this.ended = cleaned.length > 0;
  }

  private async ended_(): Promise<void> {
    this.ended = true;
    await this.ctx.record({
      kind: "image_transfer",
      id: this.id,
      diskId: this.diskId,
      state: "removed",
      purpose: this.purpose,
    });
  }
}

/** The first read of a ticket source fetches at least this much: a qcow2 header and its first cluster. */
const HEAD = 64 * 1024;

/**
 * Random access to a ticket's bytes through small ranged GETs (qcow2 headers of volumes on the engine). The
 * start of the image is fetched once and kept, so format detection, the header and the first cluster take one
 * request.
 */
export function ticketSource(ticket: ImageioTicket, size: number, signal?: AbortSignal): RandomAccessSource {
  let head: Buffer | undefined;
  const fetch = async (position: number, length: number): Promise<Buffer> => {
    const parts: Buffer[] = [];
    const segments: AsyncIterable<ImageSegment> = ticket.download({
      extents: [{ start: position, length, zero: false, hole: false }],
      workers: 1,
      signal,
    });
    for await (const s of segments) parts.push(s.zero ? Buffer.alloc(s.length) : s.data);
    return Buffer.concat(parts);
  };
  return {
    size,
    async read(position, length) {
      const end = Math.min(size, position + length);
      if (position >= end) return Buffer.alloc(0);
      head ??= await fetch(0, Math.min(size, Math.max(HEAD, end)));
      if (end <= head.length) return head.subarray(position, end);
      return fetch(position, end - position);
    },
    async close() {},
  };
}
