"use client";

import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { RefreshCw, Search } from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useMemo, useRef, useState } from "react";
import { toast } from "sonner";
import { ProtectionBadge, VerifyBadge } from "@/components/data/badges";
import { type ColumnDef, DataTable } from "@/components/data/data-table";
import { JobProgress } from "@/components/data/job-progress";
import { pollUnlessLive, useLiveRefresh } from "@/components/data/use-live";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Select } from "@/components/ui/select";
import { formatBytes, formatDateTime, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { BackupDialog, type BackupDialogVm } from "./backup-dialog";

type Filters = { q: string; protection: "" | "protected" | "unprotected"; engineId: string };

/** The live progress of a VM's running backup, in its row. */
function ActiveBackup({ jobId, vmName, live }: { jobId: string; vmName: string; live: boolean }) {
  const trpc = useTRPC();
  const job = useQuery({
    ...trpc.jobs.get.queryOptions({ id: jobId }),
    refetchInterval: pollUnlessLive(live),
  });
  if (!job.data) return <span className="text-xs text-slate-500">Backup queued…</span>;
  return (
    <Link
      href={`/jobs/${jobId}`}
      className="block rounded hover:bg-slate-100"
      aria-label={`Backup of ${vmName}: open the job`}
    >
      <JobProgress job={job.data} label={`Backup of ${vmName}`} compact />
    </Link>
  );
}

export function VmsPage({ initial }: { initial: Filters }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname() ?? "/vms";
  const queryClient = useQueryClient();
  const { me, can } = useMe();
  const [filters, setFilters] = useState<Filters>(initial);
  const [q, setQ] = useState(initial.q);
  const [backupVm, setBackupVm] = useState<BackupDialogVm | null>(null);

  // The search box settles before it queries (and lands in the URL, so the view can be shared).
  useEffect(() => {
    const h = setTimeout(() => setFilters((f) => (f.q === q ? f : { ...f, q })), 250);
    return () => clearTimeout(h);
  }, [q]);
  useEffect(() => {
    const p = new URLSearchParams();
    if (filters.q) p.set("q", filters.q);
    if (filters.protection) p.set("protection", filters.protection);
    if (filters.engineId) p.set("engine", filters.engineId);
    const qs = p.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  }, [filters, pathname, router]);

  const { live } = useLiveRefresh(["job", "inventory", "restorePoint"], [trpc.vms.pathKey()], {
    // Only job changes that concern a VM (backups starting or ending) change this list.
    filter: (ev) => ev.kind !== "job" || !!ev.vmId,
  });
  const input = {
    ...(filters.q ? { q: filters.q } : {}),
    ...(filters.protection ? { protection: filters.protection } : {}),
    ...(filters.engineId ? { engineId: filters.engineId } : {}),
    limit: 50,
  };
  const list = useInfiniteQuery(
    trpc.vms.list.infiniteQueryOptions(input, { getNextPageParam: (last) => last.nextCursor ?? undefined }),
  );
  const engines = useQuery({
    ...trpc.engines.list.queryOptions(),
    enabled: me.data?.siteAdmin === true,
  });
  const refresh = useMutation(
    trpc.vms.refresh.mutationOptions({
      onSuccess: (r) => {
        void queryClient.invalidateQueries({ queryKey: trpc.vms.pathKey() });
        const failed = r.engines.filter((e) => e.error);
        for (const f of failed) toast.error(`${f.engineName}: ${f.error}`);
        const read = r.engines.filter((e) => e.seen !== undefined);
        if (read.length > 0)
          toast.success(
            read
              .map(
                (e) =>
                  `${e.engineName}: ${e.seen} VMs${e.added ? `, ${e.added} new` : ""}${e.gone ? `, ${e.gone} gone` : ""}`,
              )
              .join("; "),
          );
        else if (failed.length === 0)
          toast.message("The engines were read moments ago: the list is current.");
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  const filtered = Boolean(filters.q || filters.protection || filters.engineId);

  // A new installation: nothing in the inventory yet — read the engines once, without waiting for the schedule.
  const autoRefreshed = useRef(false);
  useEffect(() => {
    if (autoRefreshed.current || list.isLoading || filtered || rows.length > 0 || list.isError) return;
    autoRefreshed.current = true;
    refresh.mutate({});
  }, [list.isLoading, list.isError, filtered, rows.length, refresh]);

  const engineChoices = useMemo(() => {
    const m = new Map<string, string>();
    for (const e of engines.data ?? []) m.set(e.id, e.name);
    for (const v of rows) m.set(v.engineId, v.engineName);
    return [...m].sort((a, b) => a[1].localeCompare(b[1]));
  }, [engines.data, rows]);

  type Row = (typeof rows)[number];
  const columns: ColumnDef<Row, unknown>[] = [
    {
      id: "name",
      header: "VM",
      cell: ({ row: { original: v } }) => (
        <div className="min-w-40">
          <Link
            href={`/restore-points?vm=${encodeURIComponent(v.id)}`}
            className="font-medium text-slate-900 hover:text-brand-700 hover:underline"
          >
            {v.name}
          </Link>
          {v.goneAt ? (
            <Badge tone="red" className="ml-2">
              gone from engine
            </Badge>
          ) : null}
          <p className="text-xs text-slate-500">
            {[v.osType, v.clusterName, v.memoryBytes ? formatBytes(v.memoryBytes) : null]
              .filter(Boolean)
              .join(" · ")}
          </p>
        </div>
      ),
    },
    {
      id: "engine",
      header: "Engine",
      cell: ({ row: { original: v } }) => (
        <span className="whitespace-nowrap text-slate-600">
          {v.engineName}
          {!v.engineEnabled ? <span className="block text-xs text-amber-700">engine disabled</span> : null}
        </span>
      ),
    },
    {
      id: "status",
      header: "Status",
      cell: ({ row: { original: v } }) => <span className="text-slate-600">{v.status ?? "—"}</span>,
    },
    {
      id: "disks",
      header: "Disks",
      cell: ({ row: { original: v } }) => <span className="tabular-nums">{v.diskCount}</span>,
    },
    {
      id: "tags",
      header: "Tags",
      cell: ({ row: { original: v } }) =>
        v.tags.length ? (
          <div className="flex max-w-48 flex-wrap gap-1">
            {v.tags.map((t) => (
              <Badge key={t}>{t}</Badge>
            ))}
          </div>
        ) : (
          <span className="text-slate-400">—</span>
        ),
    },
    {
      id: "protection",
      header: "Protection",
      cell: ({ row: { original: v } }) => <ProtectionBadge protection={v.protection} />,
    },
    {
      id: "last",
      header: "Last restore point",
      cell: ({ row: { original: v } }) =>
        v.lastRestorePoint ? (
          <div className="whitespace-nowrap">
            <Link
              href={`/restore-points/${v.lastRestorePoint.id}`}
              className="text-brand-700 hover:underline"
              title={formatDateTime(v.lastRestorePoint.createdAt)}
            >
              {formatRelative(v.lastRestorePoint.createdAt)}
            </Link>
            <div className="mt-0.5 flex items-center gap-1 text-xs text-slate-500">
              <VerifyBadge state={v.lastRestorePoint.verifyState} /> {v.restorePointCount} in total
            </div>
          </div>
        ) : (
          <span className="text-slate-500">never backed up</span>
        ),
    },
    {
      id: "actions",
      header: () => <span className="sr-only">Actions</span>,
      cell: ({ row: { original: v } }) =>
        v.activeBackup ? (
          <ActiveBackup jobId={v.activeBackup.jobId} vmName={v.name} live={live} />
        ) : can("backup:create") ? (
          <Button
            size="sm"
            variant="secondary"
            disabled={!!v.goneAt || !v.engineEnabled}
            title={
              v.goneAt
                ? "The engine no longer lists this VM"
                : !v.engineEnabled
                  ? "Its engine is disabled"
                  : undefined
            }
            onClick={() =>
              setBackupVm({ id: v.id, name: v.name, engineName: v.engineName, status: v.status })
            }
            aria-label={`Back up ${v.name} now`}
          >
            Back up now
          </Button>
        ) : null,
    },
  ];

  const noEngines = me.data?.siteAdmin && engines.data && engines.data.length === 0;
  return (
    <div className="mx-auto max-w-7xl space-y-5">
      <PageHeader
        title="VMs"
        description="Every VM of your teams on every engine, with its protection and latest restore point."
        actions={
          <Button variant="secondary" onClick={() => refresh.mutate({})} disabled={refresh.isPending}>
            <RefreshCw
              className={refresh.isPending ? "h-4 w-4 animate-spin" : "h-4 w-4"}
              aria-hidden="true"
            />
            {refresh.isPending ? "Reading the engines…" : "Refresh from engines"}
          </Button>
        }
      />
      <search>
        <form
          className="grid gap-3 rounded-lg border border-slate-200 bg-white p-3 sm:grid-cols-[2fr_1fr_1fr]"
          aria-label="Filter VMs"
          onSubmit={(e) => {
            e.preventDefault();
            setFilters((f) => ({ ...f, q }));
          }}
        >
          <div className="space-y-1">
            <Label htmlFor="vm-search">Name</Label>
            <div className="relative">
              <Search
                className="pointer-events-none absolute left-2.5 top-2.5 h-4 w-4 text-slate-400"
                aria-hidden="true"
              />
              <Input
                id="vm-search"
                className="pl-8"
                value={q}
                placeholder="e.g. web"
                onChange={(e) => setQ(e.target.value)}
              />
            </div>
          </div>
          <div className="space-y-1">
            <Label htmlFor="vm-protection">Protection</Label>
            <Select
              id="vm-protection"
              value={filters.protection}
              onChange={(e) =>
                setFilters((f) => ({ ...f, protection: e.target.value as Filters["protection"] }))
              }
            >
              <option value="">All</option>
              <option value="protected">Protected</option>
              <option value="unprotected">Unprotected</option>
            </Select>
          </div>
          <div className="space-y-1">
            <Label htmlFor="vm-engine">Engine</Label>
            <Select
              id="vm-engine"
              value={filters.engineId}
              onChange={(e) => setFilters((f) => ({ ...f, engineId: e.target.value }))}
            >
              <option value="">All engines</option>
              {engineChoices.map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </Select>
          </div>
        </form>
      </search>
      <ErrorNote
        error={list.error}
        action={
          <Button size="sm" variant="secondary" onClick={() => void list.refetch()}>
            Try again
          </Button>
        }
      />
      <DataTable
        caption="VMs"
        testId="vm-table"
        columns={columns}
        data={rows}
        getRowId={(v) => v.id}
        loading={list.isLoading || (refresh.isPending && rows.length === 0)}
        rowClassName={(v) => (v.goneAt ? "opacity-60" : undefined)}
        empty={
          filtered ? (
            <EmptyState title="No VM matches these filters.">
              <button
                type="button"
                className="text-brand-700 hover:underline"
                onClick={() => {
                  setQ("");
                  setFilters({ q: "", protection: "", engineId: "" });
                }}
              >
                Clear the filters
              </button>
            </EmptyState>
          ) : noEngines ? (
            <EmptyState
              title="No oVirt engine is connected yet."
              action={
                <Button asChild>
                  <Link href="/settings">Add an engine</Link>
                </Button>
              }
            >
              Add your engine (its URL, a user such as admin@internal and its CA) and Lifeboat reads its VMs.
            </EmptyState>
          ) : (
            <EmptyState title="No VMs to show yet.">
              {me.data?.siteAdmin
                ? "Lifeboat has not found VMs on the engines yet: refresh from the engines, or check the engine in Settings."
                : "None of your teams owns a VM yet. A team admin gives VMs to the team (by name pattern, oVirt tag or one by one) on the team's page."}
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
            {list.isFetchingNextPage ? "Loading…" : "Show more VMs"}
          </Button>
        </div>
      ) : null}
      {backupVm ? (
        <BackupDialog vm={backupVm} open={backupVm !== null} onOpenChange={(o) => !o && setBackupVm(null)} />
      ) : null}
    </div>
  );
}
