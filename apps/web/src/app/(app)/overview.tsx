"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { AlertTriangle, CheckCircle2 } from "lucide-react";
import Link from "next/link";
import { toast } from "sonner";
import { CountBarChart } from "@/components/charts/bar-chart";
import { ProtectionChart } from "@/components/charts/protection-chart";
import { UsageChart } from "@/components/charts/usage-chart";
import { jobTypeLabel } from "@/components/data/labels";
import { useLiveRefresh } from "@/components/data/use-live";
import { useMe } from "@/components/shell/use-me";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { formatBytes, formatDateTime, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { ProtectionCard } from "./policies/_components/protection-card";

const OUTCOMES = [
  { state: "succeeded", label: "Succeeded", color: "#16a34a" },
  { state: "failed", label: "Failed", color: "#dc2626" },
  { state: "running", label: "Running", color: "#1f57d6" },
  { state: "queued", label: "Queued", color: "#94a3b8" },
  { state: "cancelled", label: "Cancelled", color: "#f59e0b" },
] as const;

function GettingStarted({ siteAdmin, engines }: { siteAdmin: boolean; engines: number }) {
  return (
    <Card className="border-brand-500/30 bg-brand-50/40">
      <CardHeader>
        <CardTitle>Getting started</CardTitle>
      </CardHeader>
      <CardContent>
        <ol className="list-decimal space-y-1 pl-5 text-sm text-slate-700">
          {siteAdmin ? (
            <li className={engines > 0 ? "text-slate-400 line-through" : ""}>
              <Link href="/settings" className="font-medium text-brand-700 hover:underline">
                Connect your oVirt engine
              </Link>{" "}
              (Settings → Engines).
            </li>
          ) : null}
          <li>
            Give VMs to teams on each{" "}
            <Link href="/teams" className="font-medium text-brand-700 hover:underline">
              team&apos;s page
            </Link>{" "}
            (by name pattern, oVirt tag or VM).
          </li>
          <li>
            Back up a VM from the{" "}
            <Link href="/vms" className="font-medium text-brand-700 hover:underline">
              VMs page
            </Link>
            , or let a{" "}
            <Link href="/policies" className="font-medium text-brand-700 hover:underline">
              policy
            </Link>{" "}
            do it on a schedule.
          </li>
          <li>
            Find any backup in{" "}
            <Link href="/restore-points" className="font-medium text-brand-700 hover:underline">
              Restore points
            </Link>{" "}
            and restore it as a new VM, a disk or an image.
          </li>
        </ol>
      </CardContent>
    </Card>
  );
}

/** For admins: a worker or a supervised service that is down or restarting (refreshed every 15 s). */
function ServiceBanner() {
  const trpc = useTRPC();
  const health = useQuery({ ...trpc.system.services.queryOptions(), refetchInterval: 15_000 });
  const problems = health.data?.problems ?? [];
  if (problems.length === 0) return null;
  return (
    <div role="alert" className="rounded-md border border-red-300 bg-red-50 p-4 text-sm text-red-900">
      <p className="flex items-center gap-2 font-semibold">
        <AlertTriangle className="h-4 w-4" aria-hidden="true" /> Lifeboat needs attention
      </p>
      <ul className="mt-2 list-disc space-y-1 pl-6">
        {problems.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
      <p className="mt-2 text-red-800">The launcher's log says why (lines starting with [lifeboat]).</p>
    </div>
  );
}

export function Overview() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { me, can } = useMe();
  useLiveRefresh(
    ["job", "restorePoint", "leftover", "inventory", "engine"],
    [trpc.overview.summary.queryKey(), trpc.overview.leftovers.pathKey()],
  );
  const summary = useQuery(trpc.overview.summary.queryOptions());
  const leftovers = useQuery({ ...trpc.overview.leftovers.queryOptions({}), enabled: can("job:read") });
  const resolve = useMutation(
    trpc.overview.resolveLeftover.mutationOptions({
      onSuccess: () => {
        toast.success("Marked as resolved");
        void queryClient.invalidateQueries({ queryKey: trpc.overview.pathKey() });
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  const s = summary.data;
  const siteAdmin = me.data?.siteAdmin === true;
  const totalVms = s ? s.vms.protected + s.vms.unprotected : 0;
  const jobs24 = OUTCOMES.map((o) => ({
    name: o.label,
    value: s?.jobsLast24h[o.state] ?? 0,
    color: o.color,
  }));
  const attention =
    (s?.recentFailures.length ?? 0) + (leftovers.data?.length ?? 0) + (s?.enginesFailing.length ?? 0);
  return (
    <div className="mx-auto max-w-7xl space-y-6">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Overview</h1>
        <p className="text-sm text-slate-500">
          {me.data ? `Signed in as ${me.data.name}` : "\u00a0"}
          {siteAdmin ? " · site administrator" : ""}
        </p>
      </div>
      <ErrorNote error={summary.error} />
      {siteAdmin ? <ServiceBanner /> : null}
      {s && totalVms === 0 ? <GettingStarted siteAdmin={siteAdmin} engines={s.engines} /> : null}

      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        <Card>
          <CardHeader>
            <CardTitle>VM protection</CardTitle>
          </CardHeader>
          <CardContent className="flex items-center gap-5">
            <ProtectionChart
              protectedCount={s?.vms.protected ?? 0}
              unprotectedCount={s?.vms.unprotected ?? 0}
            />
            <dl className="space-y-2 text-sm">
              <div>
                <dt className="text-slate-500">Protected</dt>
                <dd className="text-xl font-semibold text-green-700" data-testid="vms-protected">
                  {s?.vms.protected ?? "–"}
                </dd>
              </div>
              <div>
                <dt className="text-slate-500">Unprotected</dt>
                <dd className="text-xl font-semibold text-amber-700">
                  {s && s.vms.unprotected > 0 ? (
                    <Link href="/vms?protection=unprotected" className="hover:underline">
                      {s.vms.unprotected}
                    </Link>
                  ) : (
                    (s?.vms.unprotected ?? "–")
                  )}
                </dd>
              </div>
              {s && s.vms.neverBackedUp > 0 ? (
                <p className="text-xs text-slate-500">{s.vms.neverBackedUp} never backed up</p>
              ) : null}
            </dl>
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>Jobs in the last 24 hours</CardTitle>
          </CardHeader>
          <CardContent>
            <CountBarChart data={jobs24} label="Jobs in the last 24 hours by outcome" />
            <dl className="mt-2 grid grid-cols-5 gap-1 text-center">
              {OUTCOMES.map((o) => (
                <div key={o.state}>
                  <dt className="text-[11px] text-slate-500">{o.label}</dt>
                  <dd className="font-semibold">
                    <Link
                      href={`/jobs?state=${o.state === "running" || o.state === "queued" ? "active" : o.state}`}
                      className="hover:underline"
                    >
                      {s?.jobsLast24h[o.state] ?? 0}
                    </Link>
                  </dd>
                </div>
              ))}
            </dl>
          </CardContent>
        </Card>

        <Card>
          <CardHeader>
            <CardTitle>{siteAdmin ? "Engines" : "Backups, last 30 days"}</CardTitle>
          </CardHeader>
          <CardContent>
            {siteAdmin ? (
              <div className="space-y-2">
                <p className="text-3xl font-semibold" data-testid="engine-count">
                  {s?.engines ?? "–"}
                </p>
                {s?.enginesFailing.length ? (
                  <ul className="space-y-1 text-sm text-red-700">
                    {s.enginesFailing.map((e) => (
                      <li key={e.id}>
                        <Link href="/settings" className="font-medium hover:underline">
                          {e.name}
                        </Link>
                        : <span className="line-clamp-2">{e.lastError}</span>
                      </li>
                    ))}
                  </ul>
                ) : !s ? null : s.engines > 0 ? (
                  <p className="flex items-center gap-1 text-sm text-green-700">
                    <CheckCircle2 className="h-4 w-4" aria-hidden="true" /> all reachable
                  </p>
                ) : (
                  <Link href="/settings" className="text-sm font-medium text-brand-700 hover:underline">
                    Connect an engine
                  </Link>
                )}
              </div>
            ) : (
              <CountBarChart
                data={(s?.backupsPerDay ?? []).map((d) => ({ name: d.day.slice(5), value: d.count }))}
                label="Backups per day"
              />
            )}
          </CardContent>
        </Card>
      </div>

      <div className="grid gap-4 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>{siteAdmin ? "Repository usage" : "Backed up per day"}</CardTitle>
          </CardHeader>
          <CardContent>
            {siteAdmin ? (
              (s?.repositoryUsage.length ?? 0) > 1 ? (
                <UsageChart samples={s?.repositoryUsage ?? []} />
              ) : (
                <p className="text-sm text-slate-500">
                  The chart fills in as backups and garbage collections run (one sample each).
                  {s?.repositoryUsage[0]
                    ? ` Now: ${formatBytes(s.repositoryUsage[0].storedBytes)} stored.`
                    : ""}
                </p>
              )
            ) : (
              <CountBarChart
                data={(s?.backupsPerDay ?? []).map((d) => ({ name: d.day.slice(5), value: d.logicalBytes }))}
                label="Bytes backed up per day"
                format={(v) => formatBytes(v)}
              />
            )}
          </CardContent>
        </Card>

        <Card className={attention > 0 ? "border-amber-300" : undefined}>
          <CardHeader className="flex flex-row items-center gap-2">
            {attention > 0 ? <AlertTriangle className="h-4 w-4 text-amber-600" aria-hidden="true" /> : null}
            <CardTitle>Needs attention</CardTitle>
          </CardHeader>
          <CardContent className="space-y-4">
            {attention === 0 && s ? (
              <p className="flex items-center gap-2 text-sm text-green-700">
                <CheckCircle2 className="h-4 w-4" aria-hidden="true" /> Nothing failed in the last 7 days and
                nothing was left behind on an engine.
              </p>
            ) : null}
            {s?.recentFailures.length ? (
              <section aria-labelledby="failures-title">
                <h3 id="failures-title" className="mb-1 text-sm font-medium">
                  Failed jobs, last 7 days
                </h3>
                <ul className="divide-y divide-slate-100 text-sm">
                  {s.recentFailures.map((f) => (
                    <li key={f.id} className="py-1.5">
                      <Link href={`/jobs/${f.id}`} className="font-medium text-brand-700 hover:underline">
                        {jobTypeLabel(f.type)}
                        {f.vmName ? ` · ${f.vmName}` : ""}
                      </Link>{" "}
                      <span className="text-xs text-slate-500" title={formatDateTime(f.finishedAt)}>
                        {formatRelative(f.finishedAt)}
                      </span>
                      {f.error ? <p className="line-clamp-2 text-xs text-red-700">{f.error}</p> : null}
                    </li>
                  ))}
                </ul>
              </section>
            ) : null}
            {leftovers.data?.length ? (
              <section aria-labelledby="leftovers-title">
                <h3 id="leftovers-title" className="mb-1 text-sm font-medium">
                  Left on an engine
                </h3>
                <ul className="divide-y divide-slate-100 text-sm">
                  {leftovers.data.map((l) => (
                    <li key={l.id} className="flex flex-wrap items-start justify-between gap-2 py-1.5">
                      <div className="min-w-0">
                        <span className="font-medium">{l.kind.replace("_", " ")}</span>{" "}
                        <span className="font-mono text-xs">{l.objectId}</span> on {l.engineName}
                        <p className="line-clamp-2 text-xs text-slate-500">
                          {l.description} ·{" "}
                          <Link href={`/jobs/${l.jobId}`} className="text-brand-700 hover:underline">
                            {jobTypeLabel(l.jobType)} job
                          </Link>
                        </p>
                      </div>
                      {can("job:cancel") ? (
                        <Button
                          size="sm"
                          variant="secondary"
                          disabled={resolve.isPending}
                          onClick={() => resolve.mutate({ id: l.id })}
                        >
                          Resolved
                        </Button>
                      ) : null}
                    </li>
                  ))}
                </ul>
              </section>
            ) : null}
          </CardContent>
        </Card>
      </div>

      <ProtectionCard />
    </div>
  );
}
