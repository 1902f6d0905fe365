import type { Db, Job } from "@lifeboat/db";
import { type NotifyConfig, notify, type Recipient } from "./notify";
import { rolesGranting } from "./permissions";

/**
 * What a team hears about its policies without looking: a scheduled job that failed, a run that was missed.
 * In-app for the members who act on it (operators and admins), and by webhook / e-mail when configured.
 */

async function teamResponders(db: Db, teamId: string): Promise<Recipient[]> {
  const roles = [...new Set([...rolesGranting("backup:create"), ...rolesGranting("policy:manage")])];
  const rows = await db.membership.findMany({
    where: { teamId, role: { in: roles }, user: { banned: { not: true } } },
    select: { user: { select: { id: true, name: true, email: true } } },
  });
  return rows.map((r) => r.user);
}

const JOB_WORDS: Record<string, string> = {
  "backup.vm": "backup",
  verify: "verification",
  "prune.vm": "prune",
};

/**
 * Tells the team that a job a policy started failed. Once per job: a duplicate delivery of the job finds the
 * notification already there.
 */
export async function notifyPolicyJobFailed(db: Db, job: Job, config: NotifyConfig): Promise<boolean> {
  if (job.state !== "failed" || !job.policyId || !job.teamId) return false;
  const link = `/jobs/${job.id}`;
  if (await db.notification.findFirst({ where: { kind: "policy.job.failed", link }, select: { id: true } }))
    return false;
  const policy = await db.policy.findUnique({ where: { id: job.policyId }, select: { name: true } });
  const vm = job.vmId ? await db.vm.findUnique({ where: { id: job.vmId }, select: { name: true } }) : null;
  const what = JOB_WORDS[job.type] ?? job.type;
  await notify(
    db,
    config,
    {
      type: "policy.job.failed",
      teamId: job.teamId,
      title: `Scheduled ${what}${vm ? ` of ${vm.name}` : ""} failed (policy ${policy?.name ?? job.policyId})`,
      body: job.error ?? "The job failed without an error message; see its events.",
      link,
      data: {
        jobId: job.id,
        type: job.type,
        policyId: job.policyId,
        policy: policy?.name ?? null,
        vmId: job.vmId,
        vm: vm?.name ?? null,
        restorePointId: job.restorePointId,
        error: job.error,
      },
    },
    await teamResponders(db, job.teamId),
  );
  return true;
}

/** Tells the team that scheduled backups did not run (no worker was running in their window). */
export async function notifyPolicyMissed(
  db: Db,
  policy: { id: string; name: string; teamId: string },
  missed: Date[],
  config: NotifyConfig,
): Promise<void> {
  if (missed.length === 0) return;
  const newest = new Date(Math.max(...missed.map((d) => d.getTime())));
  await notify(
    db,
    config,
    {
      type: "policy.run.missed",
      teamId: policy.teamId,
      title: `Policy ${policy.name} missed ${missed.length} scheduled backup${missed.length === 1 ? "" : "s"}`,
      body:
        `No Lifeboat worker was running when they were due (the latest at ${newest.toISOString()}). ` +
        "Check that a worker runs; the next scheduled run starts as usual.",
      link: `/policies/${policy.id}`,
      data: { policyId: policy.id, policy: policy.name, missed: missed.map((d) => d.toISOString()) },
    },
    await teamResponders(db, policy.teamId),
  );
}
