"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { PageHeader } from "@/components/ui/page-header";
import { Table, Td, Th } from "@/components/ui/table";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { RunState } from "./_components/run-state";

/** Every policy of the caller's teams: what it protects, when it runs, what it keeps, how it last went. */
export function PoliciesPage() {
  const trpc = useTRPC();
  const { can } = useMe();
  const policies = useQuery({ ...trpc.policies.list.queryOptions({}), refetchInterval: 30_000 });
  const canManage = can("policy:manage");
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <PageHeader
        title="Policies"
        description="Protection policies back up their VMs on a schedule, keep restore points by retention rules and verify them."
        actions={
          canManage ? (
            <Button asChild>
              <Link href="/policies/new">New policy</Link>
            </Button>
          ) : null
        }
      />
      <ErrorNote error={policies.error} />
      {policies.data && policies.data.items.length === 0 ? (
        <EmptyState title="No policies yet.">
          {canManage
            ? "Create one: it starts once another approver of the team approves it."
            : "A team admin creates policies; another approver of the team approves them."}
        </EmptyState>
      ) : null}
      {policies.data && policies.data.items.length > 0 ? (
        <Table caption="Policies">
          <thead>
            <tr>
              <Th>Policy</Th>
              <Th>Schedule</Th>
              <Th>Keeps</Th>
              <Th>VMs</Th>
              <Th>Last run</Th>
              <Th>Next run</Th>
            </tr>
          </thead>
          <tbody>
            {policies.data.items.map((p) => (
              <tr key={p.id}>
                <Td>
                  <Link href={`/policies/${p.id}`} className="font-medium text-brand-700 hover:underline">
                    {p.name}
                  </Link>
                  <div className="text-xs text-slate-500">{p.teamName}</div>
                  <div className="mt-1 flex flex-wrap gap-1">
                    {p.enabled ? null : <Badge tone="amber">paused</Badge>}
                    {p.pendingChanges > 0 ? (
                      <Badge tone="blue">
                        {p.pendingChanges} change{p.pendingChanges === 1 ? "" : "s"} awaiting approval
                      </Badge>
                    ) : null}
                  </div>
                </Td>
                <Td>
                  <div>{p.scheduleWords}</div>
                  <code className="text-xs text-slate-500">{p.schedule}</code>
                </Td>
                <Td className="text-slate-600">{p.retentionWords}</Td>
                <Td>
                  {p.vmCount}
                  {p.includeTeamVms ? <span className="text-slate-500"> + team VMs</span> : null}
                </Td>
                <Td>
                  {p.lastRun ? (
                    <div className="space-y-1">
                      <RunState state={p.lastRun.state} />
                      <div className="text-xs text-slate-500">{formatDateTime(p.lastRun.scheduledFor)}</div>
                      {p.lastRunFailedJobs > 0 ? (
                        <Badge tone="red">{p.lastRunFailedJobs} failed</Badge>
                      ) : null}
                    </div>
                  ) : (
                    <span className="text-slate-500">never</span>
                  )}
                </Td>
                <Td>
                  {p.enabled ? formatDateTime(p.nextRun) : <span className="text-slate-500">paused</span>}
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      ) : null}
    </div>
  );
}
