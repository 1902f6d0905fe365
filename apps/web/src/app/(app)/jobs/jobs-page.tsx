"use client";

import { useInfiniteQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useMemo, useState } from "react";
import { JobStateBadge } from "@/components/data/badges";
import { type ColumnDef, DataTable } from "@/components/data/data-table";
import { JobProgress } from "@/components/data/job-progress";
import { JOB_TYPE_LABELS, jobTypeLabel } from "@/components/data/labels";
import { pollUnlessLive, useLiveRefresh } from "@/components/data/use-live";
import { Button } from "@/components/ui/button";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Select } from "@/components/ui/select";
import { formatBytes, formatDateTime, formatDuration, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { CancelJobButton } from "./cancel-button";

const STATE_FILTERS: Record<string, Array<"queued" | "running" | "succeeded" | "failed" | "cancelled">> = {
  active: ["queued", "running"],
  succeeded: ["succeeded"],
  failed: ["failed"],
  cancelled: ["cancelled"],
};

export function JobsPage({ initialState, initialType }: { initialState: string; initialType: string }) {
  const trpc = useTRPC();
  const [state, setState] = useState(initialState in STATE_FILTERS ? initialState : "");
  const [type, setType] = useState(initialType);
  const { live } = useLiveRefresh(["job"], [trpc.jobs.list.pathKey()]);
  const input = {
    ...(state ? { state: STATE_FILTERS[state] } : {}),
    ...(type ? { type: [type] } : {}),
    limit: 25,
  };
  const list = useInfiniteQuery({
    ...trpc.jobs.list.infiniteQueryOptions(input, {
      getNextPageParam: (last) => (last.hasMore ? last.items[last.items.length - 1]?.id : undefined),
    }),
    refetchInterval: pollUnlessLive(live),
  });
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  type Row = (typeof rows)[number];
  const columns: ColumnDef<Row, unknown>[] = [
    {
      id: "job",
      header: "Job",
      cell: ({ row: { original: j } }) => (
        <div className="min-w-44">
          <Link
            href={`/jobs/${j.id}`}
            className="font-medium text-slate-900 hover:text-brand-700 hover:underline"
          >
            {jobTypeLabel(j.type)}
            {j.vmName ? ` · ${j.vmName}` : ""}
          </Link>
          <p className="text-xs text-slate-500">
            {j.policyId ? "scheduled by a policy" : j.createdBy ? "started by hand" : "maintenance"}
          </p>
        </div>
      ),
    },
    {
      id: "state",
      header: "State",
      cell: ({ row: { original: j } }) => (
        <JobStateBadge state={j.state} cancelRequested={j.cancelRequested} />
      ),
    },
    {
      id: "progress",
      header: "Progress",
      cell: ({ row: { original: j } }) =>
        j.state === "running" || j.state === "queued" ? (
          <JobProgress job={j} label={`${jobTypeLabel(j.type)} ${j.vmName ?? ""}`} compact />
        ) : j.state === "failed" ? (
          <p className="line-clamp-2 max-w-md text-xs text-red-700" title={j.error ?? undefined}>
            {j.error}
          </p>
        ) : (
          <span className="text-xs text-slate-500">
            {j.bytesTotal > 0 ? `${formatBytes(j.bytesDone)} · ` : ""}
            {j.startedAt && j.finishedAt
              ? `took ${formatDuration((new Date(j.finishedAt).getTime() - new Date(j.startedAt).getTime()) / 1000)}`
              : null}
          </span>
        ),
    },
    {
      id: "created",
      header: "Created",
      cell: ({ row: { original: j } }) => (
        <span className="whitespace-nowrap text-slate-600" title={formatDateTime(j.createdAt)}>
          {formatRelative(j.createdAt)}
        </span>
      ),
    },
    {
      id: "actions",
      header: () => <span className="sr-only">Actions</span>,
      cell: ({ row: { original: j } }) => <CancelJobButton job={j} />,
    },
  ];
  const filtered = Boolean(state || type);
  return (
    <div className="mx-auto max-w-7xl space-y-5">
      <PageHeader
        title="Jobs"
        description={
          <>
            Backups, restores, verifications and maintenance, newest first.{" "}
            <span className="text-xs">{live ? "Updating live." : "Updating every second."}</span>
          </>
        }
      />
      <div className="grid gap-3 rounded-lg border border-slate-200 bg-white p-3 sm:grid-cols-2 lg:grid-cols-4">
        <div className="space-y-1">
          <Label htmlFor="job-state">State</Label>
          <Select id="job-state" value={state} onChange={(e) => setState(e.target.value)}>
            <option value="">All</option>
            <option value="active">Queued or running</option>
            <option value="succeeded">Succeeded</option>
            <option value="failed">Failed</option>
            <option value="cancelled">Cancelled</option>
          </Select>
        </div>
        <div className="space-y-1">
          <Label htmlFor="job-type">Type</Label>
          <Select id="job-type" value={type} onChange={(e) => setType(e.target.value)}>
            <option value="">All</option>
            {Object.entries(JOB_TYPE_LABELS).map(([value, label]) => (
              <option key={value} value={value}>
                {label}
              </option>
            ))}
          </Select>
        </div>
      </div>
      <ErrorNote error={list.error} />
      <DataTable
        caption="Jobs"
        testId="job-table"
        columns={columns}
        data={rows}
        getRowId={(j) => j.id}
        loading={list.isLoading}
        empty={
          filtered ? (
            <EmptyState title="No job matches these filters." />
          ) : (
            <EmptyState
              title="No jobs yet."
              action={
                <Button asChild variant="secondary">
                  <Link href="/vms">Back up a VM</Link>
                </Button>
              }
            >
              Backups, restores and verifications show up here with their live progress.
            </EmptyState>
          )
        }
      />
      {list.hasNextPage ? (
        <div className="flex justify-center">
          <Button
            variant="secondary"
            onClick={() => void list.fetchNextPage()}
            disabled={list.isFetchingNextPage}
          >
            {list.isFetchingNextPage ? "Loading…" : "Show older jobs"}
          </Button>
        </div>
      ) : null}
    </div>
  );
}
