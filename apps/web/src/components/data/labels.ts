/** Job types and states in an operator's words. */
export const JOB_TYPE_LABELS: Record<string, string> = {
  "backup.vm": "Backup",
  "restore.vm": "Restore VM",
  "restore.disk": "Restore disk",
  verify: "Verify",
  "prune.vm": "Prune",
  "restore-point.delete": "Delete restore point",
  "repository.gc": "Garbage collection",
  "inventory.refresh": "Inventory refresh",
  "policy.tick": "Policy tick",
  "approvals.expire": "Expire approvals",
  "system.echo": "Diagnostics",
};

export function jobTypeLabel(type: string): string {
  return JOB_TYPE_LABELS[type] ?? type;
}

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
