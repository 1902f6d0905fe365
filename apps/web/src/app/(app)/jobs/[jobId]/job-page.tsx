"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { toast } from "sonner";
import { BackupModeBadge, JobStateBadge } from "@/components/data/badges";
import { JobProgress } from "@/components/data/job-progress";
import { FINISHED, jobTypeLabel } from "@/components/data/labels";
import { pollUnlessLive, useLiveRefresh } from "@/components/data/use-live";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { PageHeader } from "@/components/ui/page-header";
import { Table, Td, Th } from "@/components/ui/table";
import { formatBytes, formatDateTime, formatDuration, formatTime } from "@/lib/format";
import { cn } from "@/lib/utils";
import { useTRPC } from "@/trpc/react";
import { CancelJobButton } from "../cancel-button";

const LEVEL_TONE = { info: "text-slate-600", warn: "text-amber-700", error: "text-red-700" } as const;

/** What the job's result says, in words: known facts first, sizes in binary units, yes/no for flags. */
const RESULT_LABELS: Record<string, string> = {
  vmName: "VM",
  mode: "Mode taken",
  checkpointId: "Checkpoint",
  fromCheckpointId: "Incremental from checkpoint",
  disks: "Disks",
  layers: "Layers",
  reusedLayers: "Layers reused",
  transferredBytes: "Downloaded",
  changedBytes: "Changed (engine's dirty extents)",
  newStoredBytes: "Added to the repository",
  snapshotKept: "Snapshot kept",
  uploadedBytes: "Uploaded",
  deletedChunks: "Chunks deleted",
  freedBytes: "Space freed",
  remainingBytes: "Repository size",
};

function ResultFacts({ result }: { result: unknown }) {
  if (!result || typeof result !== "object") return null;
  const entries = Object.entries(result as Record<string, unknown>)
    .filter(
      ([k, v]) =>
        ["string", "number", "boolean"].includes(typeof v) &&
        (!/Id$/.test(k) || /checkpointId$/i.test(k)) &&
        k !== "cutoff",
    )
    .sort(([a], [b]) => Number(!(a in RESULT_LABELS)) - Number(!(b in RESULT_LABELS)));
  if (entries.length === 0) return null;
  const label = (k: string) =>
    RESULT_LABELS[k] ??
    k
      .replace(/([A-Z])/g, " $1")
      .replace(/^./, (c) => c.toUpperCase())
      .replace(/ (\w)/g, (m) => m.toLowerCase());
  return (
    <dl className="grid grid-cols-1 gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
      {entries.map(([k, v]) => (
        <div key={k} className="flex justify-between gap-4 border-b border-slate-100 py-1">
          <dt className="text-slate-500">{label(k)}</dt>
          <dd className="text-right font-medium tabular-nums">
            {typeof v === "number" && /bytes$/i.test(k)
              ? formatBytes(v)
              : typeof v === "boolean"
                ? v
                  ? "yes"
                  : "no"
                : String(v)}
          </dd>
        </div>
      ))}
    </dl>
  );
}

/** A finished backup's disks as the catalog recorded them: each disk's mode and bytes changed and transferred. */
function BackupDisks({ restorePointId }: { restorePointId: string }) {
  const trpc = useTRPC();
  const rp = useQuery({ ...trpc.restorePoints.get.queryOptions({ id: restorePointId }), retry: false });
  if (!rp.data) return null;
  return (
    <Table caption="Disks of this backup">
      <thead>
        <tr>
          <Th>Disk</Th>
          <Th>Mode</Th>
          <Th className="text-right">Changed</Th>
          <Th className="text-right">Transferred</Th>
        </tr>
      </thead>
      <tbody>
        {rp.data.disks.map((d) => (
          <tr key={d.id}>
            <Td>{d.alias}</Td>
            <Td>
              <BackupModeBadge mode={d.backupMode} />
            </Td>
            <Td className="text-right tabular-nums">
              {d.changedBytes === null ? "—" : formatBytes(d.changedBytes)}
            </Td>
            <Td className="text-right tabular-nums">
              {d.transferredBytes === null ? "—" : formatBytes(d.transferredBytes)}
            </Td>
          </tr>
        ))}
      </tbody>
    </Table>
  );
}

export function JobPage({ jobId }: { jobId: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  const { live } = useLiveRefresh(
    ["job", "leftover"],
    [trpc.jobs.get.queryKey({ id: jobId }), trpc.jobs.events.pathKey()],
    { filter: (ev) => ev.kind !== "job" || ev.id === jobId },
  );
  const job = useQuery({
    ...trpc.jobs.get.queryOptions({ id: jobId }),
    refetchInterval: (q) => pollUnlessLive(live, !FINISHED.has(q.state.data?.state ?? "")),
  });
  const events = useQuery({
    ...trpc.jobs.events.queryOptions({ id: jobId, limit: 500 }),
    refetchInterval: (q) => pollUnlessLive(live, !FINISHED.has(job.data?.state ?? "") && !q.state.error),
  });
  const resolve = useMutation(
    trpc.overview.resolveLeftover.mutationOptions({
      onSuccess: () => {
        toast.success("Marked as resolved");
        void queryClient.invalidateQueries({ queryKey: trpc.jobs.get.queryKey({ id: jobId }) });
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  if (job.error)
    return (
      <div className="mx-auto max-w-5xl space-y-4">
        <PageHeader title="Job" />
        <ErrorNote
          error={
            job.error.data?.code === "NOT_FOUND" ? "No such job, or it belongs to another team." : job.error
          }
          action={
            <Link href="/jobs" className="font-medium underline">
              Back to all jobs
            </Link>
          }
        />
      </div>
    );
  const j = job.data;
  if (!j)
    return <div className="mx-auto h-40 max-w-5xl animate-pulse rounded-lg bg-slate-100" aria-busy="true" />;
  const title = `${jobTypeLabel(j.type)}${j.vmName ? ` of ${j.vmName}` : ""}`;
  const restorePointId =
    j.restorePointId ??
    (j.result && typeof j.result === "object"
      ? ((j.result as { restorePointId?: string }).restorePointId ?? null)
      : null);
  const took =
    j.startedAt && (j.finishedAt || j.state === "running")
      ? ((j.finishedAt ? new Date(j.finishedAt).getTime() : Date.now()) - new Date(j.startedAt).getTime()) /
        1000
      : null;
  return (
    <div className="mx-auto max-w-5xl space-y-5">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/jobs" className="hover:underline">
          Jobs
        </Link>{" "}
        / <span className="text-slate-700">{title}</span>
      </nav>
      <PageHeader
        title={title}
        description={<span className="font-mono text-xs">{j.id}</span>}
        actions={<CancelJobButton job={j} size="md" />}
      />
      <Card>
        <CardHeader className="flex flex-row items-center justify-between gap-3">
          <CardTitle>Progress</CardTitle>
          <JobStateBadge state={j.state} cancelRequested={j.cancelRequested} />
        </CardHeader>
        <CardContent className="space-y-4">
          <JobProgress job={j} label={title} />
          {j.state === "failed" || (j.state === "cancelled" && j.error) ? (
            <ErrorNote error={j.error ?? "The job failed."} />
          ) : null}
          {j.state === "succeeded" && restorePointId ? (
            <p className="text-sm">
              <Link
                href={`/restore-points/${restorePointId}`}
                className="font-medium text-brand-700 hover:underline"
              >
                Open the restore point
              </Link>
            </p>
          ) : null}
          <dl className="grid grid-cols-2 gap-x-6 gap-y-2 text-sm sm:grid-cols-4">
            <div>
              <dt className="text-slate-500">Created</dt>
              <dd>{formatDateTime(j.createdAt)}</dd>
            </div>
            <div>
              <dt className="text-slate-500">Started</dt>
              <dd>{formatDateTime(j.startedAt)}</dd>
            </div>
            <div>
              <dt className="text-slate-500">{j.finishedAt ? "Finished" : "Running for"}</dt>
              <dd>{j.finishedAt ? formatDateTime(j.finishedAt) : formatDuration(took)}</dd>
            </div>
            <div>
              <dt className="text-slate-500">{j.finishedAt ? "Took" : "Attempt"}</dt>
              <dd>{j.finishedAt ? formatDuration(took) : j.attempts}</dd>
            </div>
            {j.backupMode ? (
              <div>
                <dt className="text-slate-500">Mode asked</dt>
                <dd data-testid="job-backup-mode">{j.backupMode}</dd>
              </div>
            ) : null}
          </dl>
          {j.vmId || j.policyId ? (
            <p className="text-sm text-slate-600">
              {j.vmId ? (
                <Link href={`/restore-points?vm=${j.vmId}`} className="text-brand-700 hover:underline">
                  Restore points of {j.vmName ?? "this VM"}
                </Link>
              ) : null}
              {j.vmId && j.policyId ? " · " : null}
              {j.policyId ? (
                <Link href={`/policies/${j.policyId}`} className="text-brand-700 hover:underline">
                  Scheduled by a policy
                </Link>
              ) : null}
            </p>
          ) : null}
          <ResultFacts result={j.result} />
          {j.type === "backup.vm" && j.state === "succeeded" && restorePointId ? (
            <BackupDisks restorePointId={restorePointId} />
          ) : null}
        </CardContent>
      </Card>

      {j.leftovers.length > 0 ? (
        <Card className="border-amber-300">
          <CardHeader>
            <CardTitle>Left on the engine</CardTitle>
            <p className="text-sm text-slate-500">
              The job could not remove these objects. Remove them on the engine (or check they are gone), then
              mark them resolved.
            </p>
          </CardHeader>
          <CardContent>
            <ul className="divide-y divide-slate-100">
              {j.leftovers.map((l) => (
                <li key={l.id} className="flex flex-wrap items-center justify-between gap-3 py-2 text-sm">
                  <div>
                    <Badge tone={l.resolvedAt ? "green" : "amber"}>{l.kind.replace("_", " ")}</Badge>{" "}
                    <span className="font-mono text-xs">{l.objectId}</span>
                    <p className="text-slate-600">{l.description}</p>
                  </div>
                  {l.resolvedAt ? (
                    <span className="text-xs text-slate-500">resolved {formatDateTime(l.resolvedAt)}</span>
                  ) : can("job:cancel", j.teamId ?? undefined) ? (
                    <Button
                      size="sm"
                      variant="secondary"
                      disabled={resolve.isPending}
                      onClick={() => resolve.mutate({ id: l.id })}
                    >
                      Mark resolved
                    </Button>
                  ) : null}
                </li>
              ))}
            </ul>
          </CardContent>
        </Card>
      ) : null}

      <Card>
        <CardHeader>
          <CardTitle>Event log</CardTitle>
        </CardHeader>
        <CardContent className="p-0">
          <ErrorNote error={events.error} />
          {events.data && events.data.items.length === 0 ? (
            <div className="p-4">
              <EmptyState title="Nothing logged yet.">
                The job logs each step here once a worker picks it up.
              </EmptyState>
            </div>
          ) : (
            <ol
              className="max-h-[32rem] divide-y divide-slate-100 overflow-y-auto font-mono text-xs"
              aria-label="Job events"
            >
              {events.data?.items.map((e) => (
                <li key={e.id} className="grid grid-cols-[auto_auto_1fr] gap-3 px-4 py-1.5">
                  <time className="whitespace-nowrap text-slate-400" dateTime={new Date(e.at).toISOString()}>
                    {formatTime(e.at)}
                  </time>
                  <span
                    className={cn(
                      "whitespace-nowrap font-semibold",
                      LEVEL_TONE[e.level as keyof typeof LEVEL_TONE],
                    )}
                  >
                    {e.step}
                  </span>
                  <span className={cn("break-words", LEVEL_TONE[e.level as keyof typeof LEVEL_TONE])}>
                    {e.message}
                  </span>
                </li>
              ))}
            </ol>
          )}
          {events.data?.hasMore ? (
            <p className="px-4 py-2 text-xs text-slate-500">The first 500 events are shown.</p>
          ) : null}
        </CardContent>
      </Card>
    </div>
  );
}
