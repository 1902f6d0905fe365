"use client";

import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { ChevronLeft, ChevronRight, Pin, Search } from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useMemo, useState } from "react";
import { BackupModeBadge, RestorePointStateBadge, VerifyBadge } from "@/components/data/badges";
import { type ColumnDef, DataTable, type SortingState } from "@/components/data/data-table";
import { useLiveRefresh } from "@/components/data/use-live";
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

export interface CatalogParams {
  q: string;
  vm: string;
  disk: string;
  engine: string;
  from: string;
  to: string;
  state: string;
  verify: string;
  mode: string;
  tag: string;
  sort: string;
}

const SORTS = ["newest", "oldest", "vm", "largest", "smallest"] as const;
type Sort = (typeof SORTS)[number];
const PAGE = 25;

const EMPTY: CatalogParams = {
  q: "",
  vm: "",
  disk: "",
  engine: "",
  from: "",
  to: "",
  state: "",
  verify: "",
  mode: "",
  tag: "",
  sort: "newest",
};

function toSorting(sort: Sort): SortingState {
  switch (sort) {
    case "newest":
      return [{ id: "time", desc: true }];
    case "oldest":
      return [{ id: "time", desc: false }];
    case "vm":
      return [{ id: "vm", desc: false }];
    case "largest":
      return [{ id: "size", desc: true }];
    case "smallest":
      return [{ id: "size", desc: false }];
  }
}

function fromSorting(s: SortingState): Sort {
  const first = s[0];
  if (!first) return "newest";
  if (first.id === "vm") return "vm";
  if (first.id === "size") return first.desc ? "largest" : "smallest";
  return first.desc ? "newest" : "oldest";
}

/** A local calendar day as the start of that day, and the end of a range as the start of the day after. */
function dayStart(day: string, plusDays = 0): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const d = new Date(`${day}T00:00:00`);
  d.setDate(d.getDate() + plusDays);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export function CatalogPage({ initial }: { initial: CatalogParams }) {
  const trpc = useTRPC();
  const router = useRouter();
  const pathname = usePathname() ?? "/restore-points";
  const { can } = useMe();
  const [params, setParams] = useState<CatalogParams>(initial);
  const [q, setQ] = useState(initial.q);
  const [cursors, setCursors] = useState<string[]>([]);
  const sort: Sort = (SORTS as readonly string[]).includes(params.sort) ? (params.sort as Sort) : "newest";

  const set = (patch: Partial<CatalogParams>) => {
    setParams((p) => ({ ...p, ...patch }));
    setCursors([]);
  };
  // The search box settles before it queries.
  useEffect(() => {
    const h = setTimeout(() => {
      setParams((p) => (p.q === q ? p : { ...p, q }));
      setCursors((c) => (c.length ? [] : c));
    }, 300);
    return () => clearTimeout(h);
  }, [q]);
  useEffect(() => {
    const sp = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v && !(k === "sort" && v === "newest")) sp.set(k, v);
    const qs = sp.toString();
    router.replace(qs ? `${pathname}?${qs}` : pathname, { scroll: false });
  }, [params, pathname, router]);

  useLiveRefresh(
    ["restorePoint"],
    [trpc.restorePoints.search.pathKey(), trpc.restorePoints.facets.pathKey()],
  );
  const facets = useQuery(trpc.restorePoints.facets.queryOptions());
  const from = dayStart(params.from);
  const to = dayStart(params.to, 1);
  const input = {
    ...(params.q.trim() ? { q: params.q.trim() } : {}),
    ...(params.vm ? { vmId: params.vm } : {}),
    ...(params.disk.trim() ? { disk: params.disk.trim() } : {}),
    ...(params.engine ? { engineId: params.engine } : {}),
    ...(from ? { from } : {}),
    ...(to ? { to } : {}),
    ...(params.state ? { state: [params.state as "complete" | "failed" | "pending" | "deleting"] } : {}),
    ...(params.verify ? { verifyState: [params.verify as "ok" | "failed" | "unverified"] } : {}),
    ...(params.mode ? { mode: [params.mode as "full" | "incremental" | "snapshot-chain"] } : {}),
    ...(params.tag ? { tag: params.tag } : {}),
    sort,
    limit: PAGE,
    ...(cursors.length ? { cursor: cursors[cursors.length - 1] } : {}),
  };
  const results = useQuery({
    ...trpc.restorePoints.search.queryOptions(input),
    placeholderData: keepPreviousData,
  });
  const rows = results.data?.items ?? [];
  type Row = (typeof rows)[number];
  const columns: ColumnDef<Row, unknown>[] = useMemo(
    () => [
      {
        id: "vm",
        header: "VM",
        accessorFn: (r) => r.vmName,
        enableSorting: true,
        cell: ({ row: { original: r } }) => (
          <div className="min-w-36">
            <Link
              href={`/restore-points/${r.id}`}
              className="font-medium text-slate-900 hover:text-brand-700 hover:underline"
              data-testid="restore-point-link"
            >
              {r.vmName}
            </Link>
            <p className="text-xs text-slate-500">
              {r.engineName}
              {r.osType ? ` · ${r.osType}` : ""}
            </p>
          </div>
        ),
      },
      {
        id: "time",
        header: "Time",
        accessorFn: (r) => new Date(r.createdAt).getTime(),
        enableSorting: true,
        cell: ({ row: { original: r } }) => (
          <div className="whitespace-nowrap">
            <span>{formatDateTime(r.createdAt)}</span>
            <p className="text-xs text-slate-500">{formatRelative(r.createdAt)}</p>
          </div>
        ),
      },
      {
        id: "size",
        header: "Size",
        accessorFn: (r) => r.logicalBytes,
        enableSorting: true,
        cell: ({ row: { original: r } }) => (
          <div
            className="whitespace-nowrap tabular-nums"
            title="Bytes of all layers; what this backup added to the repository"
          >
            {formatBytes(r.logicalBytes)}
            <p className="text-xs text-slate-500">+{formatBytes(r.newStoredBytes)} stored</p>
          </div>
        ),
      },
      {
        id: "mode",
        header: "Mode",
        enableSorting: false,
        cell: ({ row: { original: r } }) => (
          <div className="whitespace-nowrap">
            <BackupModeBadge mode={r.backupMode} />
            <p
              className="text-xs text-slate-500 tabular-nums"
              title={r.checkpointId ? `Checkpoint ${r.checkpointId}` : undefined}
            >
              {formatBytes(r.transferredBytes)} read
              {r.changedBytes !== null ? ` · ${formatBytes(r.changedBytes)} changed` : ""}
            </p>
          </div>
        ),
      },
      {
        id: "layers",
        header: "Disks · layers",
        enableSorting: false,
        cell: ({ row: { original: r } }) => (
          <span className="whitespace-nowrap text-slate-600">
            {r.diskCount} · {r.layerCount}
            {r.reusedLayerCount ? (
              <span className="text-xs text-slate-500"> ({r.reusedLayerCount} reused)</span>
            ) : null}
          </span>
        ),
      },
      {
        id: "verify",
        header: "Verified",
        enableSorting: false,
        cell: ({ row: { original: r } }) => (
          <div className="flex flex-wrap gap-1">
            <VerifyBadge state={r.verifyState} />
            <RestorePointStateBadge state={r.state} />
          </div>
        ),
      },
      {
        id: "tags",
        header: "Tags",
        enableSorting: false,
        cell: ({ row: { original: r } }) => (
          <div className="flex max-w-56 flex-wrap gap-1">
            {r.pinned ? (
              <Badge tone="blue">
                <Pin className="h-3 w-3" aria-hidden="true" /> pinned
              </Badge>
            ) : null}
            {r.tags.map((t) => (
              <Badge key={t}>{t}</Badge>
            ))}
            {r.description ? <p className="w-full truncate text-xs text-slate-500">{r.description}</p> : null}
          </div>
        ),
      },
      {
        id: "actions",
        header: () => <span className="sr-only">Actions</span>,
        enableSorting: false,
        cell: ({ row: { original: r } }) =>
          r.state === "complete" && r.verifyState !== "failed" && can("restore:request") ? (
            <Button asChild size="sm" variant="secondary">
              <Link
                href={`/restore-points/${r.id}/restore`}
                aria-label={`Restore ${r.vmName} from ${formatDateTime(r.createdAt)}`}
              >
                Restore…
              </Link>
            </Button>
          ) : null,
      },
    ],
    [can],
  );
  const filtered = Object.entries(params).some(([k, v]) => v && !(k === "sort"));
  const page = cursors.length + 1;
  return (
    <div className="mx-auto max-w-7xl space-y-5">
      <PageHeader
        title="Restore points"
        description="Every backup of your teams' VMs. Search by VM name, disk, description, tag or OS; filter and sort."
      />
      <search>
        <form
          aria-label="Search restore points"
          className="space-y-3 rounded-lg border border-slate-200 bg-white p-3"
          onSubmit={(e) => {
            e.preventDefault();
            set({ q });
          }}
        >
          <div className="relative">
            <Label htmlFor="catalog-q" className="sr-only">
              Search
            </Label>
            <Search
              className="pointer-events-none absolute left-3 top-2.5 h-4 w-4 text-slate-400"
              aria-hidden="true"
            />
            <Input
              id="catalog-q"
              type="search"
              className="pl-9"
              value={q}
              placeholder="Search: VM name, disk alias, description, tag, os:rhel_9x64 …"
              onChange={(e) => setQ(e.target.value)}
              autoComplete="off"
            />
          </div>
          <div className="grid gap-3 sm:grid-cols-2 lg:grid-cols-4 xl:grid-cols-8">
            <div className="space-y-1 lg:col-span-2">
              <Label htmlFor="catalog-vm">VM</Label>
              <Select id="catalog-vm" value={params.vm} onChange={(e) => set({ vm: e.target.value })}>
                <option value="">All VMs</option>
                {facets.data?.vms.map((v) => (
                  <option key={v.id} value={v.id}>
                    {v.name} ({v.engineName})
                  </option>
                ))}
              </Select>
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-disk">Disk</Label>
              <Input
                id="catalog-disk"
                value={params.disk}
                placeholder="alias or id"
                onChange={(e) => set({ disk: e.target.value })}
              />
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-engine">Engine</Label>
              <Select
                id="catalog-engine"
                value={params.engine}
                onChange={(e) => set({ engine: e.target.value })}
              >
                <option value="">All</option>
                {facets.data?.engines.map((e) => (
                  <option key={e.id} value={e.id}>
                    {e.name}
                  </option>
                ))}
              </Select>
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-from">From</Label>
              <Input
                id="catalog-from"
                type="date"
                value={params.from}
                onChange={(e) => set({ from: e.target.value })}
              />
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-to">To</Label>
              <Input
                id="catalog-to"
                type="date"
                value={params.to}
                onChange={(e) => set({ to: e.target.value })}
              />
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-state">State</Label>
              <Select
                id="catalog-state"
                value={params.state}
                onChange={(e) => set({ state: e.target.value })}
              >
                <option value="">All</option>
                <option value="complete">Complete</option>
                <option value="failed">Failed</option>
                <option value="pending">Pending</option>
                <option value="deleting">Being deleted</option>
              </Select>
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-verify">Verification</Label>
              <Select
                id="catalog-verify"
                value={params.verify}
                onChange={(e) => set({ verify: e.target.value })}
              >
                <option value="">All</option>
                <option value="ok">Verified</option>
                <option value="unverified">Not verified</option>
                <option value="failed">Damaged</option>
              </Select>
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-mode">Mode</Label>
              <Select id="catalog-mode" value={params.mode} onChange={(e) => set({ mode: e.target.value })}>
                <option value="">All</option>
                <option value="full">Full</option>
                <option value="incremental">Incremental</option>
                <option value="snapshot-chain">Snapshot chain</option>
              </Select>
            </div>
            <div className="space-y-1">
              <Label htmlFor="catalog-tag">Tag</Label>
              <Select id="catalog-tag" value={params.tag} onChange={(e) => set({ tag: e.target.value })}>
                <option value="">All</option>
                {facets.data?.tags.map((t) => (
                  <option key={t} value={t}>
                    {t}
                  </option>
                ))}
              </Select>
            </div>
            <div className="space-y-1 xl:col-span-2">
              <Label htmlFor="catalog-sort">Sort</Label>
              <Select id="catalog-sort" value={sort} onChange={(e) => set({ sort: e.target.value })}>
                <option value="newest">Newest first</option>
                <option value="oldest">Oldest first</option>
                <option value="vm">VM name</option>
                <option value="largest">Largest first</option>
                <option value="smallest">Smallest first</option>
              </Select>
            </div>
          </div>
          {filtered ? (
            <button
              type="button"
              className="text-sm text-brand-700 hover:underline"
              onClick={() => {
                setQ("");
                setParams({ ...EMPTY });
                setCursors([]);
              }}
            >
              Clear search and filters
            </button>
          ) : null}
        </form>
      </search>
      <ErrorNote
        error={results.error}
        action={
          results.error?.data?.code === "BAD_REQUEST" ? (
            <Button size="sm" variant="secondary" onClick={() => setCursors([])}>
              Back to the first page
            </Button>
          ) : null
        }
      />
      <DataTable
        caption="Restore points"
        testId="catalog-table"
        columns={columns}
        data={rows}
        getRowId={(r) => r.id}
        loading={results.isLoading}
        sorting={toSorting(sort)}
        onSortingChange={(s) => set({ sort: fromSorting(s) })}
        empty={
          filtered ? (
            <EmptyState title="Nothing matches.">
              Every word must appear in the VM name, a disk alias, the description, a tag or the OS. Try fewer
              words or clear a filter.
            </EmptyState>
          ) : (
            <EmptyState
              title="No restore points yet."
              action={
                <Button asChild>
                  <Link href="/vms">Back up a VM</Link>
                </Button>
              }
            >
              Each backup becomes a restore point here, ready to restore as a new VM, a disk or a downloadable
              image.
            </EmptyState>
          )
        }
      />
      {rows.length > 0 || cursors.length > 0 ? (
        <nav aria-label="Pages" className="flex items-center justify-between text-sm">
          <span className="text-slate-500">
            Page {page}
            {results.isFetching ? " · updating…" : ""}
          </span>
          <div className="flex gap-2">
            <Button
              size="sm"
              variant="secondary"
              disabled={cursors.length === 0}
              onClick={() => setCursors((c) => c.slice(0, -1))}
            >
              <ChevronLeft className="h-4 w-4" aria-hidden="true" /> Previous
            </Button>
            <Button
              size="sm"
              variant="secondary"
              disabled={!results.data?.nextCursor}
              onClick={() => {
                const next = results.data?.nextCursor;
                if (next) setCursors((c) => [...c, next]);
              }}
            >
              Next <ChevronRight className="h-4 w-4" aria-hidden="true" />
            </Button>
          </div>
        </nav>
      ) : null}
    </div>
  );
}
