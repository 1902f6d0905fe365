import type { EngineClient } from "./client";
import type { Disk } from "./disks";

/** Whether one disk can be backed up incrementally through the engine's backup API, and why (not). */
export interface DiskBackupCapability {
  diskId: string;
  alias?: string;
  incremental: boolean;
  reason: string;
}

/**
 * What the engine offers for a VM (design §2b, ref §4.7), decided from its cluster's compatibility level — not
 * the engine version — and each disk's `backup` and format.
 */
export interface VmBackupCapability {
  vmId: string;
  /** e.g. "4.7"; undefined when the engine did not say. */
  clusterLevel?: string;
  /** At least one disk can be backed up incrementally (level ≥ 4.5, `backup: incremental`, format cow). */
  incremental: boolean;
  /** Backups through the API read from a VM snapshot (level ≥ 4.7 unless `legacy`); else scratch disks (live). */
  hybrid: boolean;
  /** The backup API when it gives incremental backups, else the snapshot chain (design §2a). */
  method: "backup-api" | "snapshot-chain";
  disks: DiskBackupCapability[];
  /** The decision in words, for the operator. */
  reason: string;
}

function level(version: string | undefined): number | undefined {
  const m = version ? /^(\d+)\.(\d+)$/.exec(version) : null;
  return m ? Number(m[1]) * 100 + Number(m[2]) : undefined;
}

/** The decision itself, from what the engine said about the cluster and the disks. */
export function decideBackupCapability(input: {
  vmId: string;
  clusterLevel?: string;
  disks: Disk[];
  legacy?: boolean;
}): VmBackupCapability {
  const lv = level(input.clusterLevel);
  const api = lv !== undefined && lv >= 405;
  const hybrid = lv !== undefined && lv >= 407 && !input.legacy;
  const disks = input.disks.map((d): DiskBackupCapability => {
    const base = { diskId: d.id, alias: d.alias };
    if (!api) return { ...base, incremental: false, reason: "the cluster level has no incremental backup" };
    if (d.backup !== "incremental")
      return { ...base, incremental: false, reason: "incremental backup is not enabled on the disk" };
    if (d.format !== "cow")
      return {
        ...base,
        incremental: false,
        reason: `the disk is ${d.format ?? "of unknown format"}, not qcow2`,
      };
    return { ...base, incremental: true, reason: "incremental backup is enabled on this qcow2 disk" };
  });
  const incremental = disks.some((d) => d.incremental);
  let reason: string;
  if (lv === undefined)
    reason = "the engine did not say the cluster's compatibility level: snapshot chain only";
  else if (!api)
    reason = `cluster compatibility level ${input.clusterLevel}: incremental backup needs 4.5 or later, snapshot chain only`;
  else if (!incremental)
    reason =
      "no disk has incremental backup enabled (backup: incremental on a qcow2 disk): snapshot chain only";
  else
    reason = `cluster compatibility level ${input.clusterLevel}: incremental backup through the backup API, ${
      hybrid
        ? "hybrid (from a VM snapshot)"
        : input.legacy
          ? "live mode as asked (legacy)"
          : "live mode (scratch disks)"
    }`;
  return {
    vmId: input.vmId,
    clusterLevel: input.clusterLevel,
    incremental,
    hybrid: api && hybrid,
    method: incremental ? "backup-api" : "snapshot-chain",
    disks,
    reason,
  };
}

/** Reads the VM's cluster level and its disks, and decides (see VmBackupCapability). */
export async function backupCapability(
  engine: EngineClient,
  vmId: string,
  opts: { legacy?: boolean; signal?: AbortSignal } = {},
): Promise<VmBackupCapability> {
  const vm = await engine.vms.get(vmId, { signal: opts.signal });
  const cluster = vm.cluster ? await engine.clusters.get(vm.cluster.id, { signal: opts.signal }) : undefined;
  const attachments = await engine.diskAttachments.list(vmId, { signal: opts.signal });
  const disks = await Promise.all(
    attachments.map((a) => a.disk ?? engine.disks.get(a.diskId, { signal: opts.signal })),
  );
  return decideBackupCapability({
    vmId,
    clusterLevel: cluster?.version,
    disks: disks.filter((d) => d.shareable !== true),
    legacy: opts.legacy,
  });
}
