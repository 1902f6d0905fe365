import { randomUUID } from "node:crypto";
import type {
  ImageTransferDirection,
  ImageTransferPhase,
  ImageTransferTimeoutPolicy,
  Loose,
} from "@lifeboat/ovirt-protocol";
import { z } from "zod";
import { poll, type WaitOptions } from "../wait";
import { correlationIdOf, type EngineClient, seg } from "./client";
import { EngineError, ImageTransferFailedError } from "./errors";
import { type Ref, zBigInt, zBool, zCollection, zEnum, zInt, zRef } from "./json";

export interface ImageTransfer {
  id: string;
  /** ref §4.6. */
  phase: Loose<ImageTransferPhase>;
  direction?: Loose<ImageTransferDirection>;
  /** `raw` → NBD backend (guest data), `cow` → file backend (volume bytes). */
  format?: string;
  /** `https://HOST:54322/images/<ticket>` — meaningful only while transferring. */
  transferUrl?: string;
  /** `https://ENGINE:54323/images/<ticket>`. */
  proxyUrl?: string;
  inactivityTimeout?: number;
  timeoutPolicy?: string;
  active?: boolean;
  transferred?: bigint;
  shallow?: boolean;
  disk?: Ref;
  snapshot?: Ref;
  backup?: Ref;
  host?: Ref;
}

const zImageTransfer = z
  .object({
    id: z.string().min(1),
    phase: zEnum.optional(),
    direction: zEnum.optional(),
    format: zEnum.optional(),
    transfer_url: z.string().optional(),
    proxy_url: z.string().optional(),
    inactivity_timeout: zInt.optional(),
    timeout_policy: zEnum.optional(),
    active: zBool.optional(),
    transferred: zBigInt.optional(),
    shallow: zBool.optional(),
    disk: zRef.optional(),
    snapshot: zRef.optional(),
    backup: zRef.optional(),
    host: zRef.optional(),
    image: zRef.optional(),
  })
  .transform(
    (t): ImageTransfer => ({
      id: t.id,
      phase: t.phase ?? "unknown",
      direction: t.direction,
      format: t.format,
      transferUrl: t.transfer_url || undefined,
      proxyUrl: t.proxy_url || undefined,
      inactivityTimeout: t.inactivity_timeout,
      timeoutPolicy: t.timeout_policy,
      active: t.active,
      transferred: t.transferred,
      shallow: t.shallow,
      // Legacy transfers name the disk as `image`.
      disk: t.disk ?? t.image,
      snapshot: t.snapshot,
      backup: t.backup,
      host: t.host,
    }),
  );
const zImageTransfers = zCollection("image_transfer", zImageTransfer);

export interface AddImageTransferSpec {
  direction: ImageTransferDirection;
  /** Target: a whole disk (its active layer), by id. Exactly one of `disk` / `snapshot`. */
  disk?: string;
  /** Target: one disk snapshot (volume id). */
  snapshot?: string;
  /** Backup download: the backup id, together with `disk`. */
  backup?: string;
  format?: "raw" | "cow";
  /** With `format: raw` + download: only this layer, unallocated areas as holes (4.4.3+). */
  shallow?: boolean;
  /** Seconds of client inactivity tolerated (engine default 60; 0 disables). */
  inactivityTimeout?: number;
  timeoutPolicy?: ImageTransferTimeoutPolicy;
  host?: { id: string } | { name: string };
  correlationId?: string;
}

/** How a finalized transfer was confirmed: its own phase, or its disk after the engine deleted it (pre-4.4.7). */
export interface ImageTransferOutcome {
  id: string;
  confirmedBy: "phase" | "disk";
}

const WAIT_TRANSFERRING = new Set(["initializing", "resuming", "unknown"]);
const WAIT_FINISHED = new Set(["transferring", "finalizing_success", "resuming", "unknown"]);

/** Image transfers: `/imagetransfers` and the phase machine (ref §4.5–4.6). */
export class ImageTransfers {
  /** The correlation id each transfer was added under: the key to the engine's log of why it failed. */
  private readonly correlation = new Map<string, string>();

  constructor(private readonly engine: EngineClient) {}

  async add(spec: AddImageTransferSpec, opts: { signal?: AbortSignal } = {}): Promise<ImageTransfer> {
    if ((spec.disk === undefined) === (spec.snapshot === undefined))
      throw new Error("an image transfer needs exactly one target: disk or snapshot");
    if (spec.backup !== undefined && spec.disk === undefined)
      throw new Error("a backup image transfer needs the disk as target");
    const body: Record<string, unknown> = { direction: spec.direction };
    if (spec.disk !== undefined) body.disk = { id: spec.disk };
    if (spec.snapshot !== undefined) body.snapshot = { id: spec.snapshot };
    if (spec.backup !== undefined) body.backup = { id: spec.backup };
    if (spec.format !== undefined) body.format = spec.format;
    if (spec.shallow !== undefined) body.shallow = String(spec.shallow);
    if (spec.inactivityTimeout !== undefined) body.inactivity_timeout = String(spec.inactivityTimeout);
    if (spec.timeoutPolicy !== undefined) body.timeout_policy = spec.timeoutPolicy;
    if (spec.host !== undefined) body.host = spec.host;
    // Always under a correlation id (our own when the caller has none): the engine logs why a transfer failed
    // under it, and nowhere we could find otherwise.
    const correlationId = correlationIdOf(spec.correlationId ?? `lifeboat-transfer-${randomUUID()}`);
    const t = await this.engine.post("/imagetransfers", zImageTransfer, {
      body,
      query: { correlation_id: correlationId },
      signal: opts.signal,
    });
    this.correlation.set(t.id, correlationId);
    return t;
  }

  /**
   * A failed transfer as an error in the engine's words where it logged any: the phase alone says little, the
   * audit log says why (verification of an upload, a host that lost its ticket). Best effort, bounded.
   */
  private async failed(id: string, state: string, message: string): Promise<ImageTransferFailedError> {
    const cid = this.correlation.get(id);
    this.correlation.delete(id);
    // A transfer added by another client (or before a restart) has no known correlation id.
    if (cid === undefined) return new ImageTransferFailedError(id, state, message);
    try {
      const problem = await this.engine.events.latestProblem(cid, { signal: AbortSignal.timeout(10_000) });
      if (problem?.description)
        return new ImageTransferFailedError(
          id,
          state,
          `${message}; the engine logged: ${problem.description}`,
        );
    } catch {
      // The explanation is a courtesy: the failure stands without it.
    }
    return new ImageTransferFailedError(id, state, message);
  }

  async get(id: string, opts: { signal?: AbortSignal } = {}): Promise<ImageTransfer> {
    return this.engine.get(`/imagetransfers/${seg(id)}`, zImageTransfer, opts);
  }

  async list(opts: { signal?: AbortSignal } = {}): Promise<ImageTransfer[]> {
    return this.engine.get("/imagetransfers", zImageTransfers, opts);
  }

  /** The client is done: the engine closes the ticket (and verifies an upload). Retried on 409/5xx. */
  async finalize(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.engine.action(`/imagetransfers/${seg(id)}`, "finalize", {
      idempotent: true,
      signal: opts.signal,
    });
  }

  /** Aborts the transfer. For an upload the engine DELETES the target disk. */
  async cancel(id: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.correlation.delete(id);
    await this.engine.action(`/imagetransfers/${seg(id)}`, "cancel", {
      idempotent: true,
      signal: opts.signal,
    });
  }

  /**
   * Polls until `transferring` and returns the transfer with its URLs. `paused_*`, `cancelled_*`, `finalizing_*`,
   * `finished_*` or a 404 fail with the phase named.
   */
  async waitTransferring(id: string, wait: WaitOptions = {}): Promise<ImageTransfer> {
    return poll(
      `image transfer ${id} to start`,
      async () => {
        let t: ImageTransfer;
        try {
          t = await this.get(id, { signal: wait.signal });
        } catch (e) {
          if (e instanceof EngineError && e.isNotFound)
            throw new ImageTransferFailedError(
              id,
              "removed",
              `image transfer ${id} was removed before it started`,
            );
          throw e;
        }
        if (t.phase === "transferring") return { done: true, value: t };
        if (WAIT_TRANSFERRING.has(t.phase)) return { done: false, state: t.phase };
        throw await this.failed(id, t.phase, `image transfer ${id} did not start: phase ${t.phase}`);
      },
      {
        ...wait,
        defaultTimeoutMs: 5 * 60_000,
        defaultIntervalMs: Math.min(this.engine.pollIntervalMs, 1000),
      },
    );
  }

  /**
   * Adds a transfer and waits for `transferring`. If it does not get there the transfer is cancelled (best
   * effort) so no ticket or disk lock is left behind, and the error is rethrown.
   */
  async start(spec: AddImageTransferSpec, wait: WaitOptions = {}): Promise<ImageTransfer> {
    const t = await this.add(spec, { signal: wait.signal });
    try {
      return await this.waitTransferring(t.id, wait);
    } catch (e) {
      await this.cancel(t.id).catch(() => undefined);
      throw e;
    }
  }

  /**
   * After finalize: polls until `finished_success`. Engines before 4.4.7 delete finished transfers (404): then
   * the disk tells — gone = the upload failed and was removed, `ok` = success, anything else = failure.
   * `diskId` is needed for that fallback when the transfer was never read before it vanished.
   */
  async waitFinished(
    id: string,
    opts: { diskId?: string } & WaitOptions = {},
  ): Promise<ImageTransferOutcome> {
    let diskId = opts.diskId;
    return poll<ImageTransferOutcome>(
      `image transfer ${id} to finish`,
      async () => {
        let t: ImageTransfer;
        try {
          t = await this.get(id, { signal: opts.signal });
        } catch (e) {
          if (!(e instanceof EngineError && e.isNotFound)) throw e;
          return { done: true, value: await this.confirmByDisk(id, diskId, opts.signal) };
        }
        diskId ??= t.disk?.id;
        if (t.phase === "finished_success") {
          this.correlation.delete(id);
          return { done: true, value: { id, confirmedBy: "phase" } };
        }
        if (WAIT_FINISHED.has(t.phase)) return { done: false, state: t.phase };
        const why =
          t.phase === "paused_system"
            ? "the engine could not finalize it; the disk is left illegal and needs manual cleanup"
            : `phase ${t.phase}`;
        throw await this.failed(id, t.phase, `image transfer ${id} failed: ${why}`);
      },
      {
        ...opts,
        defaultTimeoutMs: 30 * 60_000,
        defaultIntervalMs: Math.min(this.engine.pollIntervalMs, 1000),
      },
    );
  }

  /** finalize + waitFinished. */
  async finalizeAndWait(
    id: string,
    opts: { diskId?: string } & WaitOptions = {},
  ): Promise<ImageTransferOutcome> {
    let diskId = opts.diskId;
    if (!diskId) {
      // Remember the disk now: after finalize an old engine may delete the transfer before we read it.
      try {
        diskId = (await this.get(id, { signal: opts.signal })).disk?.id;
      } catch (e) {
        if (!(e instanceof EngineError && e.isNotFound)) throw e;
      }
    }
    await this.finalize(id, { signal: opts.signal });
    return this.waitFinished(id, { ...opts, diskId });
  }

  private async confirmByDisk(
    id: string,
    diskId: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ImageTransferOutcome> {
    if (!diskId)
      throw new ImageTransferFailedError(
        id,
        "removed",
        `image transfer ${id} vanished and its disk is unknown`,
      );
    let status: string | undefined;
    try {
      status = (await this.engine.disks.get(diskId, { signal })).status;
    } catch (e) {
      if (e instanceof EngineError && e.isNotFound)
        throw await this.failed(
          id,
          "removed",
          `image transfer ${id} failed: the engine removed disk ${diskId}`,
        );
      throw e;
    }
    if (status === "ok") {
      this.correlation.delete(id);
      return { id, confirmedBy: "disk" };
    }
    throw await this.failed(
      id,
      status ?? "unknown",
      `image transfer ${id} failed: disk ${diskId} is ${status ?? "in an unknown state"} after the transfer`,
    );
  }
}
