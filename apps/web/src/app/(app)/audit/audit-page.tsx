"use client";

import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { Download } from "lucide-react";
import { useState } from "react";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { PersonName } from "@/components/ui/person-name";
import { Select } from "@/components/ui/select";
import { Table, Td, Th } from "@/components/ui/table";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

interface Filters {
  actor?: string;
  action?: string;
  teamId?: string;
  outcome?: "success" | "failure" | "denied";
  from?: string;
  to?: string;
  q?: string;
}

/** Common actions and prefixes for the action filter (any action can be typed). */
const ACTIONS = [
  "auth.sign-in",
  "account.change-password",
  "approval.",
  "approvals.",
  "teams.",
  "users.",
  "job.",
  "audit.export",
];

const OUTCOME_TONES = { success: "green", failure: "amber", denied: "red" } as const;

function toQuery(f: Filters): Record<string, string> {
  const q: Record<string, string> = {};
  for (const [k, v] of Object.entries(f)) {
    if (!v) continue;
    q[k] = k === "from" || k === "to" ? new Date(v).toISOString() : v;
  }
  return q;
}

export function AuditPage() {
  const { me, can } = useMe();
  if (me.data && !can("audit:read"))
    return (
      <div className="mx-auto max-w-4xl space-y-6">
        <PageHeader title="Audit log" />
        <EmptyState title="The audit log is for approvers, team admins and site administrators.">
          <p>Ask your team admin if you need to read it.</p>
        </EmptyState>
      </div>
    );
  return <AuditLog />;
}

function AuditLog() {
  const trpc = useTRPC();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const [filters, setFilters] = useState<Filters>({});
  const log = useInfiniteQuery(
    trpc.audit.list.infiniteQueryOptions(
      {
        ...filters,
        from: filters.from ? new Date(filters.from) : undefined,
        to: filters.to ? new Date(filters.to) : undefined,
        limit: 50,
      },
      { getNextPageParam: (last) => last.nextCursor ?? undefined },
    ),
  );
  const rows = log.data?.pages.flatMap((p) => p.items) ?? [];
  const exportHref = `/api/audit?${new URLSearchParams(toQuery(filters)).toString()}`;

  return (
    <div className="mx-auto max-w-7xl space-y-6">
      <PageHeader
        title="Audit log"
        description="Every change, sign-in, approval decision and job outcome. Nothing here can be edited or deleted."
        actions={
          <Button asChild variant="secondary">
            <a href={exportHref} download>
              <Download className="h-4 w-4" aria-hidden="true" /> Export CSV
            </a>
          </Button>
        }
      />
      <form
        aria-label="Filter the audit log"
        className="grid gap-3 rounded-lg border border-slate-200 bg-white p-4 sm:grid-cols-2 lg:grid-cols-4"
        onSubmit={(e) => {
          e.preventDefault();
          const f = new FormData(e.currentTarget);
          const get = (k: string) => String(f.get(k) ?? "").trim() || undefined;
          setFilters({
            actor: get("actor"),
            action: get("action"),
            teamId: get("teamId"),
            outcome: get("outcome") as Filters["outcome"],
            from: get("from"),
            to: get("to"),
            q: get("q"),
          });
        }}
      >
        <div className="space-y-1.5 lg:col-span-2">
          <Label htmlFor="audit-q">Search</Label>
          <Input
            id="audit-q"
            name="q"
            type="search"
            placeholder="Words from any field, e.g. a VM or a reason"
          />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-actor">Who</Label>
          <Input id="audit-actor" name="actor" placeholder="Name or e-mail" />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-action">Action</Label>
          <Input id="audit-action" name="action" list="audit-actions" placeholder="e.g. approval." />
          <datalist id="audit-actions">
            {ACTIONS.map((a) => (
              <option key={a} value={a} />
            ))}
          </datalist>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-team">Team</Label>
          <Select id="audit-team" name="teamId" defaultValue="">
            <option value="">All teams I may see</option>
            {teams.data?.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </Select>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-outcome">Outcome</Label>
          <Select id="audit-outcome" name="outcome" defaultValue="">
            <option value="">Any</option>
            <option value="success">Success</option>
            <option value="failure">Failure</option>
            <option value="denied">Denied</option>
          </Select>
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-from">From</Label>
          <Input id="audit-from" name="from" type="datetime-local" />
        </div>
        <div className="space-y-1.5">
          <Label htmlFor="audit-to">To</Label>
          <Input id="audit-to" name="to" type="datetime-local" />
        </div>
        <div className="flex items-end gap-2 sm:col-span-2 lg:col-span-4">
          <Button type="submit">Apply filters</Button>
          <Button
            type="reset"
            variant="ghost"
            onClick={() => {
              setFilters({});
            }}
          >
            Clear
          </Button>
        </div>
      </form>
      <ErrorNote error={log.error} />
      {log.isPending ? (
        <p className="text-sm text-slate-500">Loading…</p>
      ) : rows.length === 0 && !log.error ? (
        <EmptyState title="No entries match these filters.">Widen the dates or clear the filters.</EmptyState>
      ) : (
        <Table caption="Audit log entries, newest first">
          <thead>
            <tr>
              <Th>When</Th>
              <Th>Outcome</Th>
              <Th>Action</Th>
              <Th>Who</Th>
              <Th>Team</Th>
              <Th>Target</Th>
              <Th>From</Th>
              <Th>Details</Th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid="audit-row">
                <Td className="whitespace-nowrap">{formatDateTime(r.at)}</Td>
                <Td>
                  <Badge tone={OUTCOME_TONES[r.outcome as keyof typeof OUTCOME_TONES] ?? "slate"}>
                    {r.outcome}
                  </Badge>
                </Td>
                <Td className="font-mono text-xs">{r.action}</Td>
                <Td>
                  {r.actorName || r.actorEmail ? (
                    <PersonName name={r.actorName} email={r.actorEmail} />
                  ) : (
                    <span className="text-slate-400">Lifeboat</span>
                  )}
                </Td>
                <Td>{r.teamName ?? <span className="text-slate-400">—</span>}</Td>
                <Td className="text-xs">
                  {r.targetType ? (
                    <>
                      {r.targetType} <span className="font-mono text-slate-500">{r.targetId}</span>
                    </>
                  ) : (
                    "—"
                  )}
                </Td>
                <Td className="text-xs">
                  {r.ip ?? "—"}
                  {r.userAgent ? (
                    <div className="max-w-40 truncate text-slate-400" title={r.userAgent}>
                      {r.userAgent}
                    </div>
                  ) : null}
                </Td>
                <Td className="max-w-md text-xs">
                  {r.details && Object.keys(r.details as object).length > 0 ? (
                    <details>
                      <summary className="cursor-pointer text-brand-700">Show</summary>
                      <pre className="mt-1 whitespace-pre-wrap break-all font-mono text-[11px] text-slate-600">
                        {JSON.stringify(r.details, null, 2)}
                      </pre>
                    </details>
                  ) : (
                    "—"
                  )}
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {log.hasNextPage ? (
        <Button variant="secondary" onClick={() => log.fetchNextPage()} disabled={log.isFetchingNextPage}>
          {log.isFetchingNextPage ? "Loading…" : "Show older entries"}
        </Button>
      ) : null}
    </div>
  );
}
