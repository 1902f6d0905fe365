import {
  CheckCircle2,
  CircleAlert,
  CircleDashed,
  Loader2,
  ShieldAlert,
  ShieldCheck,
  XCircle,
} from "lucide-react";
import { Badge, type BadgeTone } from "@/components/ui/badge";

const JOB_TONES: Record<string, BadgeTone> = {
  queued: "slate",
  running: "blue",
  succeeded: "green",
  failed: "red",
  cancelled: "amber",
};

/** A job's state; the icon repeats the colour's meaning for those who cannot tell the colours apart. */
export function JobStateBadge({ state, cancelRequested }: { state: string; cancelRequested?: boolean }) {
  const Icon =
    state === "running"
      ? Loader2
      : state === "succeeded"
        ? CheckCircle2
        : state === "failed"
          ? XCircle
          : state === "cancelled"
            ? CircleAlert
            : CircleDashed;
  return (
    <Badge tone={JOB_TONES[state] ?? "slate"} data-testid="job-state">
      <Icon className={state === "running" ? "h-3 w-3 animate-spin" : "h-3 w-3"} aria-hidden="true" />
      {state === "running" && cancelRequested ? "cancelling" : state}
    </Badge>
  );
}

const VERIFY: Record<string, { tone: BadgeTone; label: string }> = {
  ok: { tone: "green", label: "verified" },
  failed: { tone: "red", label: "damaged" },
  unverified: { tone: "slate", label: "not verified" },
};

export function VerifyBadge({ state }: { state: string }) {
  const v = VERIFY[state] ?? { tone: "slate" as const, label: state };
  return <Badge tone={v.tone}>{v.label}</Badge>;
}

const POINT: Record<string, BadgeTone> = {
  complete: "green",
  pending: "slate",
  failed: "red",
  deleting: "amber",
};

export function RestorePointStateBadge({ state }: { state: string }) {
  if (state === "complete") return null;
  return <Badge tone={POINT[state] ?? "slate"}>{state}</Badge>;
}

export function ProtectionBadge({
  protection,
}: {
  protection: { protected: boolean; recentBackup: boolean; coveredByPolicy: boolean; policies: string[] };
}) {
  if (!protection.protected)
    return (
      <Badge tone="amber" title="No complete backup in the last 7 days and no policy covers it">
        <ShieldAlert className="h-3 w-3" aria-hidden="true" /> Unprotected
      </Badge>
    );
  const why = [
    protection.recentBackup ? "backed up within 7 days" : null,
    protection.coveredByPolicy
      ? protection.policies.length
        ? `policy ${protection.policies.join(", ")}`
        : "a policy"
      : null,
  ]
    .filter(Boolean)
    .join("; ");
  return (
    <Badge tone="green" title={why}>
      <ShieldCheck className="h-3 w-3" aria-hidden="true" /> Protected
    </Badge>
  );
}

const MODE: Record<string, { tone: BadgeTone; label: string }> = {
  full: { tone: "blue", label: "full" },
  incremental: { tone: "green", label: "incremental" },
  "snapshot-chain": { tone: "slate", label: "snapshot chain" },
};

/** How a restore point (or one of its disks) was taken: full or incremental (backup API), snapshot chain. */
export function BackupModeBadge({ mode }: { mode: string }) {
  const m = MODE[mode] ?? { tone: "slate" as const, label: mode };
  return (
    <Badge tone={m.tone} data-testid="backup-mode">
      {m.label}
    </Badge>
  );
}
