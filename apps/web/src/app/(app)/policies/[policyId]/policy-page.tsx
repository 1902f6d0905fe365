"use client";

import type { AppRouter } from "@lifeboat/api";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { toast } from "sonner";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog } from "@/components/ui/dialog";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Select } from "@/components/ui/select";
import { Table, Td, Th } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { PinButton } from "../_components/pin-button";
import { RunState } from "../_components/run-state";

type Policy = inferRouterOutputs<AppRouter>["policies"]["get"];
type Preview = inferRouterOutputs<AppRouter>["policies"]["prunePreview"];

const JOB_TONES = {
  succeeded: "green",
  failed: "red",
  running: "blue",
  queued: "slate",
  cancelled: "amber",
} as const;

function useInvalidate() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.approvals.pathKey() }),
    ]);
}

/** Pause, resume or delete: each is a policy change, so it asks for approval with a reason. */
function ChangeDialog({
  data,
  op,
  open,
  onOpenChange,
}: {
  data: Policy;
  op: "pause" | "resume" | "delete";
  open: boolean;
  onOpenChange: (open: boolean) => void;
}) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const [reason, setReason] = useState("");
  const request = useMutation(
    trpc.policies.requestChange.mutationOptions({
      onSuccess: (r) => {
        toast.success("Sent for approval", { description: r.summary });
        void invalidate();
        onOpenChange(false);
      },
    }),
  );
  const p = data.policy;
  const { id: _, teamId: __, teamName: ___, createdAt: ____, updatedAt: _____, ...spec } = p;
  const title =
    op === "delete" ? `Delete ${p.name}` : op === "pause" ? `Pause ${p.name}` : `Resume ${p.name}`;
  return (
    <Dialog
      open={open}
      onOpenChange={onOpenChange}
      title={title}
      description={
        op === "delete"
          ? "Its restore points stay (deleting them needs their own approval). Another approver of the team must approve."
          : "Another approver of the team must approve."
      }
    >
      <form
        className="space-y-4"
        onSubmit={(e) => {
          e.preventDefault();
          request.mutate({
            teamId: p.teamId,
            change:
              op === "delete"
                ? { op: "delete", policyId: p.id, baseUpdatedAt: p.updatedAt }
                : {
                    op: "update",
                    policyId: p.id,
                    baseUpdatedAt: p.updatedAt,
                    spec: { ...spec, enabled: op === "resume" },
                  },
            reason,
          });
        }}
      >
        <div className="space-y-1.5">
          <Label htmlFor="change-reason">Why (the approver reads this)</Label>
          <Textarea id="change-reason" value={reason} onChange={(e) => setReason(e.target.value)} required />
        </div>
        <ErrorNote error={request.error} />
        <Button type="submit" variant={op === "delete" ? "danger" : "primary"} disabled={request.isPending}>
          Ask for approval
        </Button>
      </form>
    </Dialog>
  );
}

function Summary({ data }: { data: Policy }) {
  const p = data.policy;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Settings</CardTitle>
      </CardHeader>
      <CardContent>
        <dl className="grid gap-x-6 gap-y-3 text-sm sm:grid-cols-2">
          <div>
            <dt className="text-slate-500">Schedule</dt>
            <dd className="font-medium" data-testid="schedule-words">
              {data.schedule.words}
            </dd>
            <dd>
              <code className="text-xs text-slate-500">{p.schedule}</code>
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Next runs ({p.timezone})</dt>
            <dd>
              <ol aria-label="Next runs" className="text-slate-700">
                {p.enabled ? (
                  data.schedule.nextRuns.map((r) => (
                    <li key={r.toISOString()}>
                      {r.toLocaleString(undefined, {
                        timeZone: p.timezone,
                        dateStyle: "medium",
                        timeStyle: "short",
                      })}
                    </li>
                  ))
                ) : (
                  <li>paused</li>
                )}
              </ol>
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Window</dt>
            <dd>starts no later than {p.windowMinutes} minutes after its time</dd>
          </div>
          <div>
            <dt className="text-slate-500">Retention</dt>
            <dd data-testid="retention-words">{data.retentionWords}</dd>
          </div>
          <div>
            <dt className="text-slate-500">Verify</dt>
            <dd>
              {data.verify
                ? `${data.verify.words}: restore points not verified for ${p.verifyMaxAgeDays} days`
                : "not scheduled"}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Backup mode</dt>
            <dd data-testid="backup-mode-words">{data.backupModeWords}</dd>
          </div>
          <div>
            <dt className="text-slate-500">Backup snapshot</dt>
            <dd>{p.keepSnapshot ? "kept on the engine" : "removed after each backup"}</dd>
          </div>
        </dl>
      </CardContent>
    </Card>
  );
}

function Vms({ data }: { data: Policy }) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Protected VMs</CardTitle>
      </CardHeader>
      <CardContent>
        {data.vms.length === 0 ? (
          <EmptyState title="No VMs.">The policy protects no VM now.</EmptyState>
        ) : (
          <Table caption="Protected VMs">
            <thead>
              <tr>
                <Th>VM</Th>
                <Th>Why</Th>
                <Th>Restore points</Th>
                <Th>Last backup</Th>
              </tr>
            </thead>
            <tbody>
              {data.vms.map((v) => (
                <tr key={v.id}>
                  <Td className="font-medium">
                    {v.name} <span className="text-xs font-normal text-slate-500">{v.engineName}</span>
                    {v.excluded ? (
                      <div className="text-xs font-normal text-red-700">Skipped: {v.excluded}</div>
                    ) : null}
                  </Td>
                  <Td>
                    {[v.explicit ? "listed" : null, v.viaTeam ? "team VM" : null].filter(Boolean).join(", ")}
                  </Td>
                  <Td>{v.restorePoints}</Td>
                  <Td>{formatDateTime(v.lastBackupAt)}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}

function runDetails(details: unknown): string {
  const d = (details ?? {}) as {
    jobs?: Array<{ vmName: string; mode?: string; why?: string }>;
    skipped?: Array<{ vmName: string; reason: string }>;
    reason?: string;
    manual?: { name: string };
    alsoMissed?: number;
  };
  const parts: string[] = [];
  if (d.manual) parts.push(`started by ${d.manual.name}`);
  if (d.jobs?.length) parts.push(`${d.jobs.length} job${d.jobs.length === 1 ? "" : "s"}`);
  // A full backup the policy asked for says why (its cadence); the others take the mode auto finds.
  for (const j of d.jobs ?? []) if (j.why) parts.push(`${j.vmName} full: ${j.why}`);
  for (const s of d.skipped ?? []) parts.push(`${s.vmName} skipped: ${s.reason}`);
  if (d.reason) parts.push(d.reason);
  if (d.alsoMissed) parts.push(`and ${d.alsoMissed} earlier tick(s)`);
  return parts.join(" · ");
}

function Runs({ data }: { data: Policy }) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Runs</CardTitle>
      </CardHeader>
      <CardContent>
        {data.runs.length === 0 ? (
          <EmptyState title="No runs yet." />
        ) : (
          <Table caption="Runs">
            <thead>
              <tr>
                <Th>Scheduled for</Th>
                <Th>Kind</Th>
                <Th>State</Th>
                <Th>Details</Th>
              </tr>
            </thead>
            <tbody>
              {data.runs.map((r) => (
                <tr key={r.id}>
                  <Td>{formatDateTime(r.scheduledFor)}</Td>
                  <Td>{r.kind}</Td>
                  <Td>
                    <RunState state={r.state} />
                  </Td>
                  <Td className="text-xs text-slate-600">{runDetails(r.details)}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}

function decisionText(p: Preview["vms"][number]["points"][number]): string {
  if (p.keep)
    return p.rule === "pinned" ? "kept: pinned" : `kept: ${p.rule}${p.bucket ? ` (${p.bucket})` : ""}`;
  if (p.supersededBy)
    return `goes: a newer restore point of ${p.supersededBy.bucket ?? "the same period"} is kept (${p.supersededBy.rule})`;
  return "goes: beyond retention";
}

function PrunePreview({ data }: { data: Policy }) {
  const trpc = useTRPC();
  const invalidate = useInvalidate();
  const [vmId, setVmId] = useState("");
  const preview = useQuery(
    trpc.policies.prunePreview.queryOptions({ policyId: data.policy.id, vmId: vmId || undefined }),
  );
  const prune = useMutation(
    trpc.policies.prune.mutationOptions({
      onSuccess: (r) => {
        toast.success(`Prune started (${r.jobIds.length} job${r.jobIds.length === 1 ? "" : "s"})`);
        void invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const tz = preview.data?.timeZone ?? data.policy.timezone;
  return (
    <Card>
      <CardHeader className="flex flex-wrap items-center justify-between gap-3">
        <CardTitle>Prune preview</CardTitle>
        <div className="flex flex-wrap items-center gap-2">
          <Select aria-label="VM" value={vmId} onChange={(e) => setVmId(e.target.value)} className="w-56">
            <option value="">Every VM</option>
            {data.vms.map((v) => (
              <option key={v.id} value={v.id}>
                {v.name}
              </option>
            ))}
          </Select>
          {data.canOperate ? (
            <Button
              size="sm"
              variant="secondary"
              disabled={prune.isPending}
              onClick={() => {
                if (confirm("Delete every restore point marked 'goes' now?"))
                  prune.mutate({ policyId: data.policy.id, vmId: vmId || undefined });
              }}
            >
              Prune now
            </Button>
          ) : null}
        </div>
      </CardHeader>
      <CardContent className="space-y-4">
        <p className="text-xs text-slate-500">
          A dry run of {data.retentionWords}, on the restore points this policy made; periods in {tz}. Nothing
          is deleted until a prune runs (after each backup, or Prune now).
        </p>
        <ErrorNote error={preview.error} />
        {preview.data?.vms.length === 0 ? (
          <EmptyState title="No restore points made by this policy yet." />
        ) : null}
        {preview.data?.vms.map((vm) => (
          <div key={vm.vmId} className="space-y-2">
            <h3 className="text-sm font-semibold">
              {vm.vmName}{" "}
              <span className="font-normal text-slate-500">
                — keeps {vm.keep}, removes {vm.remove}
              </span>
            </h3>
            {vm.points.length === 0 ? (
              <p className="text-sm text-slate-500">No restore points.</p>
            ) : (
              <Table caption={`Prune preview for ${vm.vmName}`}>
                <thead>
                  <tr>
                    <Th>Restore point</Th>
                    <Th>Verified</Th>
                    <Th>Decision</Th>
                    <Th>
                      <span className="sr-only">Pin</span>
                    </Th>
                  </tr>
                </thead>
                <tbody>
                  {vm.points.map((p) => (
                    <tr key={p.id} data-decision={p.keep ? "keep" : "remove"}>
                      <Td>
                        {p.createdAt.toLocaleString(undefined, {
                          timeZone: tz,
                          dateStyle: "medium",
                          timeStyle: "short",
                        })}
                        {p.description ? <div className="text-xs text-slate-500">{p.description}</div> : null}
                      </Td>
                      <Td>
                        <Badge
                          tone={
                            p.verifyState === "ok" ? "green" : p.verifyState === "failed" ? "red" : "slate"
                          }
                        >
                          {p.verifyState}
                        </Badge>
                      </Td>
                      <Td>
                        <Badge tone={p.keep ? "green" : "red"}>{p.keep ? "keep" : "goes"}</Badge>{" "}
                        <span className="text-xs text-slate-600">{decisionText(p)}</span>
                      </Td>
                      <Td>
                        <PinButton restorePointId={p.id} pinned={p.pinned} teamId={data.policy.teamId} />
                      </Td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )}
          </div>
        ))}
      </CardContent>
    </Card>
  );
}

function Jobs({ policyId }: { policyId: string }) {
  const trpc = useTRPC();
  const jobs = useInfiniteQuery(
    trpc.policies.jobs.infiniteQueryOptions(
      { policyId, limit: 25 },
      {
        getNextPageParam: (last) => (last.hasMore ? last.items.at(-1)?.id : undefined),
        refetchInterval: 15_000,
      },
    ),
  );
  const items = jobs.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Card>
      <CardHeader>
        <CardTitle>Job history</CardTitle>
      </CardHeader>
      <CardContent className="space-y-3">
        <ErrorNote error={jobs.error} />
        {jobs.data && items.length === 0 ? <EmptyState title="No jobs yet." /> : null}
        {items.length > 0 ? (
          <Table caption="Job history">
            <thead>
              <tr>
                <Th>Started</Th>
                <Th>Job</Th>
                <Th>VM</Th>
                <Th>State</Th>
              </tr>
            </thead>
            <tbody>
              {items.map((j) => (
                <tr key={j.id}>
                  <Td>{formatDateTime(j.startedAt ?? j.createdAt)}</Td>
                  <Td>
                    <Link href={`/jobs/${j.id}`} className="text-brand-700 hover:underline">
                      {j.type}
                    </Link>
                    {j.phase ? <div className="text-xs text-slate-500">{j.phase}</div> : null}
                  </Td>
                  <Td>{j.vmName ?? "—"}</Td>
                  <Td>
                    <Badge tone={JOB_TONES[j.state as keyof typeof JOB_TONES] ?? "slate"}>{j.state}</Badge>
                    {j.error ? <div className="text-xs text-red-700">{j.error}</div> : null}
                  </Td>
                </tr>
              ))}
            </tbody>
          </Table>
        ) : null}
        {jobs.hasNextPage ? (
          <Button
            variant="secondary"
            size="sm"
            onClick={() => jobs.fetchNextPage()}
            disabled={jobs.isFetchingNextPage}
          >
            Show older jobs
          </Button>
        ) : null}
      </CardContent>
    </Card>
  );
}

/** One policy: settings in words, next runs, protected VMs, runs, the prune preview and its job history. */
export function PolicyPage({ policyId }: { policyId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const invalidate = useInvalidate();
  const got = useQuery({ ...trpc.policies.get.queryOptions({ policyId }), refetchInterval: 30_000 });
  const [dialog, setDialog] = useState<"pause" | "resume" | "delete" | null>(null);
  const runNow = useMutation(
    trpc.policies.runNow.mutationOptions({
      onSuccess: (r) => {
        if (r.state === "started")
          toast.success(`Backup run started (${r.jobIds.length} job${r.jobIds.length === 1 ? "" : "s"})`);
        else
          toast.warning("Nothing started", {
            description: r.skipped.map((s) => `${s.vmName}: ${s.reason}`).join("\n"),
          });
        void invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const data = got.data;
  if (got.error)
    return (
      <div className="mx-auto max-w-6xl space-y-4">
        <ErrorNote error={got.error} />
        <Button variant="secondary" onClick={() => router.push("/policies")}>
          Back to policies
        </Button>
      </div>
    );
  if (!data) return <p className="text-sm text-slate-500">Loading…</p>;
  const p = data.policy;
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <PageHeader
        title={p.name}
        description={
          <>
            Policy of {p.teamName}
            {p.enabled ? null : (
              <>
                {" "}
                <Badge tone="amber">paused</Badge>
              </>
            )}
          </>
        }
        actions={
          <>
            {data.canOperate ? (
              <Button
                variant="secondary"
                disabled={runNow.isPending}
                onClick={() => runNow.mutate({ policyId: p.id, kind: "backup" })}
              >
                Run now
              </Button>
            ) : null}
            {data.canManage ? (
              <>
                <Button variant="secondary" asChild>
                  <Link href={`/policies/${p.id}/edit`}>Edit</Link>
                </Button>
                <Button variant="secondary" onClick={() => setDialog(p.enabled ? "pause" : "resume")}>
                  {p.enabled ? "Pause" : "Resume"}
                </Button>
                <Button variant="danger" onClick={() => setDialog("delete")}>
                  Delete
                </Button>
              </>
            ) : null}
          </>
        }
      />
      {data.pendingChanges.length > 0 ? (
        <div role="status" className="rounded-md border border-brand-200 bg-brand-50 px-4 py-3 text-sm">
          <p className="font-medium">Waiting for approval:</p>
          <ul className="mt-1 space-y-1">
            {data.pendingChanges.map((c) => (
              <li key={c.approvalRequestId}>
                <Link
                  href={`/approvals?id=${c.approvalRequestId}`}
                  className="text-brand-700 hover:underline"
                >
                  {c.summary}
                </Link>{" "}
                <span className="text-slate-500">— asked by {c.requestedBy}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <Summary data={data} />
      <Vms data={data} />
      <Runs data={data} />
      <PrunePreview data={data} />
      <Jobs policyId={p.id} />
      {dialog ? (
        <ChangeDialog data={data} op={dialog} open onOpenChange={(o) => (o ? null : setDialog(null))} />
      ) : null}
    </div>
  );
}
