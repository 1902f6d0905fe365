"use client";

import type { AppRouter } from "@lifeboat/api";
import * as Tabs from "@radix-ui/react-tabs";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { formatDistanceToNow } from "date-fns";
import { useState } from "react";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { PersonName } from "@/components/ui/person-name";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

type Approval = inferRouterOutputs<AppRouter>["approvals"]["get"];
type View = "inbox" | "mine" | "team";

const KIND_WORDS: Record<string, string> = {
  "restore.vm": "VM restore",
  "restore.disk": "Disk restore",
  "image.download": "Image download",
  "restore-point.delete": "Restore point deletion",
  "policy.change": "Policy change",
  "team.assignment": "VM assignment",
};

const STATE_TONES = {
  pending: "amber",
  approved: "green",
  rejected: "red",
  expired: "slate",
  cancelled: "slate",
  failed: "red",
} as const;

function useInvalidateApprovals() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.approvals.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.notifications.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.teams.pathKey() }),
    ]);
}

function Decide({
  approval,
  decision,
  onDone,
}: {
  approval: Approval;
  decision: "approve" | "reject";
  onDone: () => void;
}) {
  const trpc = useTRPC();
  const invalidate = useInvalidateApprovals();
  const options = {
    onSuccess: (r: Approval) => {
      if (r.state === "failed") toast.error(`Approved, but it could not run: ${r.executionError ?? ""}`);
      else toast.success(decision === "approve" ? "Approved" : "Rejected");
      void invalidate();
      onDone();
    },
  };
  const approve = useMutation(trpc.approvals.approve.mutationOptions(options));
  const reject = useMutation(trpc.approvals.reject.mutationOptions(options));
  const m = decision === "approve" ? approve : reject;
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const comment = String(new FormData(e.currentTarget).get("comment") ?? "");
        m.mutate({ id: approval.id, comment });
      }}
    >
      <div className="rounded-md bg-slate-50 p-3 text-sm">
        <p className="font-medium">{approval.summary}</p>
        <p className="mt-1 text-slate-600">
          Asked by <PersonName name={approval.requestedBy.name} email={approval.requestedBy.email} />
        </p>
        <p className="mt-1 whitespace-pre-line text-slate-600">Reason: {approval.reason}</p>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="decision-comment">Your comment (required)</Label>
        <Textarea id="decision-comment" name="comment" required autoFocus />
      </div>
      <ErrorNote error={m.error} />
      <Button type="submit" variant={decision === "approve" ? "primary" : "danger"} disabled={m.isPending}>
        {decision === "approve" ? "Approve" : "Reject"}
      </Button>
    </form>
  );
}

function ApprovalCard({ a, highlighted }: { a: Approval; highlighted?: boolean }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateApprovals();
  const [deciding, setDeciding] = useState<"approve" | "reject" | null>(null);
  const cancel = useMutation(
    trpc.approvals.cancel.mutationOptions({
      onSuccess: () => {
        toast.success("Request withdrawn");
        void invalidate();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const headingId = `approval-${a.id}`;
  return (
    <article
      aria-labelledby={headingId}
      className={`rounded-lg border bg-white p-4 shadow-sm ${highlighted ? "border-brand-500 ring-2 ring-brand-500/30" : "border-slate-200"}`}
      data-testid="approval-card"
    >
      <div className="flex flex-wrap items-start justify-between gap-3">
        <div className="min-w-0 space-y-1">
          <div className="flex flex-wrap items-center gap-2">
            <Badge tone={STATE_TONES[a.state]}>{a.state}</Badge>
            <Badge>{KIND_WORDS[a.kind] ?? a.kind}</Badge>
            <span className="text-xs text-slate-500">{a.teamName}</span>
            {a.otherTeamIds.length > 0 ? (
              <Badge tone="amber">touches other teams' VMs: a site admin or their admin decides</Badge>
            ) : null}
          </div>
          <h2 id={headingId} className="font-medium text-slate-900">
            {a.summary}
          </h2>
        </div>
        <div className="flex gap-2">
          {a.canDecide ? (
            <>
              <Button size="sm" onClick={() => setDeciding("approve")}>
                Approve
              </Button>
              <Button size="sm" variant="secondary" onClick={() => setDeciding("reject")}>
                Reject
              </Button>
            </>
          ) : null}
          {a.canCancel ? (
            <Button
              size="sm"
              variant="ghost"
              disabled={cancel.isPending}
              onClick={() => cancel.mutate({ id: a.id })}
            >
              Withdraw
            </Button>
          ) : null}
        </div>
      </div>
      <dl className="mt-3 grid gap-x-4 gap-y-1 text-sm sm:grid-cols-[9rem_1fr]">
        <dt className="text-slate-500">Asked by</dt>
        <dd>
          <PersonName name={a.requestedBy.name} email={a.requestedBy.email} />, {formatDateTime(a.createdAt)}
        </dd>
        <dt className="text-slate-500">Reason</dt>
        <dd className="whitespace-pre-line">{a.reason}</dd>
        {a.state === "pending" ? (
          <>
            <dt className="text-slate-500">Expires</dt>
            <dd>
              <time dateTime={new Date(a.expiresAt).toISOString()} title={formatDateTime(a.expiresAt)}>
                in {formatDistanceToNow(new Date(a.expiresAt))}
              </time>
            </dd>
          </>
        ) : null}
        {a.decidedBy ? (
          <>
            <dt className="text-slate-500">{a.state === "rejected" ? "Rejected by" : "Approved by"}</dt>
            <dd>
              <PersonName name={a.decidedBy.name} email={a.decidedBy.email} />, {formatDateTime(a.decidedAt)}
            </dd>
            <dt className="text-slate-500">Comment</dt>
            <dd className="whitespace-pre-line">{a.decisionComment}</dd>
          </>
        ) : null}
        {a.jobId ? (
          <>
            <dt className="text-slate-500">Job</dt>
            <dd className="font-mono text-xs">{a.jobId}</dd>
          </>
        ) : null}
        {a.executionError ? (
          <>
            <dt className="text-slate-500">Could not run</dt>
            <dd className="text-red-700">{a.executionError}</dd>
          </>
        ) : null}
      </dl>
      <Dialog
        open={deciding !== null}
        onOpenChange={(o) => !o && setDeciding(null)}
        title={deciding === "approve" ? "Approve this request" : "Reject this request"}
        description={
          deciding === "approve"
            ? "It runs as soon as you approve, under the requester's name."
            : "Nothing runs; the requester is told."
        }
      >
        {deciding ? <Decide approval={a} decision={deciding} onDone={() => setDeciding(null)} /> : null}
      </Dialog>
    </article>
  );
}

const EMPTY: Record<View, [string, string]> = {
  inbox: ["Nothing waits for your decision.", "Requests from your teams that you may approve show up here."],
  mine: [
    "You have not asked for anything yet.",
    "Restores, deletions and VM changes that need a second person land here.",
  ],
  team: ["Your teams have no requests yet.", "Every request of your teams, decided or not, shows up here."],
};

function RequestList({ view, focusId }: { view: View; focusId?: string }) {
  const trpc = useTRPC();
  const list = useInfiniteQuery(
    trpc.approvals.list.infiniteQueryOptions(
      { view, limit: 20 },
      { getNextPageParam: (last) => (last.hasMore ? last.items.at(-1)?.id : undefined) },
    ),
  );
  const items = list.data?.pages.flatMap((p) => p.items) ?? [];
  if (list.error) return <ErrorNote error={list.error} />;
  if (list.isPending) return <p className="text-sm text-slate-500">Loading…</p>;
  if (items.length === 0)
    return (
      <EmptyState title={EMPTY[view][0]}>
        <p>{EMPTY[view][1]}</p>
      </EmptyState>
    );
  return (
    <div className="space-y-3">
      {items.map((a) => (
        <ApprovalCard key={a.id} a={a} highlighted={a.id === focusId} />
      ))}
      {list.hasNextPage ? (
        <Button variant="secondary" onClick={() => list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {list.isFetchingNextPage ? "Loading…" : "Show more"}
        </Button>
      ) : null}
    </div>
  );
}

export function ApprovalsPage({ focusId }: { focusId?: string }) {
  const { me, can } = useMe();
  if (me.data && !can("approval:read"))
    return (
      <div className="mx-auto max-w-4xl space-y-6">
        <PageHeader title="Approvals" />
        <EmptyState title="You are not in a team yet.">
          <p>Requests belong to teams. Ask a site administrator to add you to yours.</p>
        </EmptyState>
      </div>
    );
  return <Approvals focusId={focusId} />;
}

function Approvals({ focusId }: { focusId?: string }) {
  const trpc = useTRPC();
  const counts = useQuery(trpc.approvals.counts.queryOptions());
  const focused = useQuery({
    ...trpc.approvals.get.queryOptions({ id: focusId ?? "" }),
    enabled: Boolean(focusId),
  });
  const [tab, setTab] = useState<View>("inbox");
  const n = counts.data?.awaitingMyDecision ?? 0;
  return (
    <div className="mx-auto max-w-4xl space-y-6">
      <PageHeader
        title="Approvals"
        description="Operations that can hurt wait here until a second person of the team approves them."
      />
      {focusId ? (
        <section aria-label="The request you opened" className="space-y-2">
          {focused.error ? <ErrorNote error={focused.error} /> : null}
          {focused.data ? <ApprovalCard a={focused.data} highlighted /> : null}
        </section>
      ) : null}
      <Tabs.Root value={tab} onValueChange={(v) => setTab(v as View)}>
        <Tabs.List aria-label="Requests" className="flex gap-1 border-b border-slate-200">
          {(
            [
              ["inbox", `Waiting for me${n > 0 ? ` (${n})` : ""}`],
              ["mine", "My requests"],
              ["team", "All of my teams"],
            ] as const
          ).map(([value, label]) => (
            <Tabs.Trigger
              key={value}
              value={value}
              className="-mb-px border-b-2 border-transparent px-3 py-2 text-sm font-medium text-slate-600 hover:text-slate-900 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-brand-500 data-[state=active]:border-brand-600 data-[state=active]:text-brand-700"
            >
              {label}
            </Tabs.Trigger>
          ))}
        </Tabs.List>
        {(["inbox", "mine", "team"] as const).map((v) => (
          <Tabs.Content key={v} value={v} className="pt-4 focus-visible:outline-none">
            {tab === v ? <RequestList view={v} focusId={focusId} /> : null}
          </Tabs.Content>
        ))}
      </Tabs.Root>
    </div>
  );
}
