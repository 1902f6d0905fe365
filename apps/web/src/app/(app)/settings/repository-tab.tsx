"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { toast } from "sonner";
import { UsageChart } from "@/components/charts/usage-chart";
import { JobStateBadge } from "@/components/data/badges";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { formatBytes, formatDateTime, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

function LastJob({
  title,
  job,
  empty,
}: {
  title: string;
  job: { id: string; state: string; createdAt: Date; finishedAt: Date | null; error: string | null } | null;
  empty: string;
}) {
  return (
    <div className="space-y-1 text-sm">
      <p className="text-slate-500">{title}</p>
      {job ? (
        <p className="flex flex-wrap items-center gap-2">
          <JobStateBadge state={job.state} />
          <Link href={`/jobs/${job.id}`} className="text-brand-700 hover:underline">
            {formatDateTime(job.finishedAt ?? job.createdAt)}
          </Link>
        </p>
      ) : (
        <p className="text-slate-600">{empty}</p>
      )}
      {job?.error ? <p className="text-xs text-red-700">{job.error}</p> : null}
    </div>
  );
}

export function RepositoryTab() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const repo = useQuery(trpc.settings.repository.queryOptions());
  const measure = useMutation(
    trpc.settings.measureRepository.mutationOptions({
      onSuccess: (s) => {
        toast.success(`${s.chunks} chunks, ${formatBytes(s.storedBytes)} stored`);
        void queryClient.invalidateQueries({ queryKey: trpc.settings.repository.queryKey() });
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const r = repo.data;
  if (repo.error) return <ErrorNote error={repo.error} />;
  if (!r) return <div className="h-40 animate-pulse rounded-lg bg-slate-100" aria-busy="true" />;
  const ratio = r.latest && r.latest.storedBytes > 0 ? r.latest.logicalBytes / r.latest.storedBytes : null;
  return (
    <div className="space-y-5">
      <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-4">
        <Card>
          <CardContent className="py-4">
            <p className="text-sm text-slate-500">Stored</p>
            <p className="text-2xl font-semibold" data-testid="repo-stored">
              {formatBytes(r.latest?.storedBytes ?? 0)}
            </p>
            <p className="text-xs text-slate-500">
              {r.latest ? `${r.latest.chunkCount} chunks` : "no sample yet"}
            </p>
          </CardContent>
        </Card>
        <Card>
          <CardContent className="py-4">
            <p className="text-sm text-slate-500">Backed up</p>
            <p className="text-2xl font-semibold">{formatBytes(r.latest?.logicalBytes ?? 0)}</p>
            <p className="text-xs text-slate-500">
              {ratio ? `${ratio.toFixed(1)}× saved by dedup and compression` : "—"}
            </p>
          </CardContent>
        </Card>
        <Card>
          <CardContent className="py-4">
            <p className="text-sm text-slate-500">Restore points</p>
            <p className="text-2xl font-semibold">{r.restorePoints.complete}</p>
            <p className="flex flex-wrap gap-1 text-xs">
              <Badge tone="green">{r.restorePoints.verify.ok ?? 0} verified</Badge>
              {(r.restorePoints.verify.failed ?? 0) > 0 ? (
                <Badge tone="red">{r.restorePoints.verify.failed} damaged</Badge>
              ) : null}
            </p>
          </CardContent>
        </Card>
        <Card>
          <CardContent className="py-4">
            <p className="text-sm text-slate-500">Location</p>
            <p className="break-all font-mono text-xs">{r.location}</p>
            <p className="text-xs text-slate-500">
              {r.encrypted ? "encrypted (AES-256-GCM)" : "not encrypted"}
            </p>
          </CardContent>
        </Card>
      </div>
      <Card>
        <CardHeader className="flex flex-row items-center justify-between gap-3">
          <CardTitle>Usage over time</CardTitle>
          <Button size="sm" variant="secondary" disabled={measure.isPending} onClick={() => measure.mutate()}>
            {measure.isPending ? "Measuring…" : "Measure now"}
          </Button>
        </CardHeader>
        <CardContent>
          {r.usage.length > 1 ? (
            <UsageChart samples={r.usage} height={240} />
          ) : (
            <p className="text-sm text-slate-500">
              A sample is recorded after every backup and every garbage collection; the chart starts with the
              second one.
            </p>
          )}
          {r.latest ? (
            <p className="mt-2 text-xs text-slate-500">Last sample {formatRelative(r.latest.at)}.</p>
          ) : null}
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Checks</CardTitle>
        </CardHeader>
        <CardContent className="grid gap-4 sm:grid-cols-3">
          <LastJob title="Last verification" job={r.lastVerify} empty="Never verified." />
          <LastJob title="Last garbage collection" job={r.lastGc} empty="Not yet (daily at 03:30 UTC)." />
          <div className="space-y-1 text-sm">
            <p className="text-slate-500">Last restore point verified</p>
            <p>
              {r.restorePoints.lastVerifiedAt ? formatDateTime(r.restorePoints.lastVerifiedAt) : "none yet"}
            </p>
          </div>
        </CardContent>
      </Card>
    </div>
  );
}
