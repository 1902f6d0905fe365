"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { formatBytes, formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

/**
 * Protection at a glance for the overview: policies, the last day's runs and failed policy jobs, verification
 * results of the restore points in scope (with the latest failures), and the repository size for site admins.
 * Place it on the overview: `<ProtectionCard />`.
 */
export function ProtectionCard() {
  const trpc = useTRPC();
  const { can } = useMe();
  const summary = useQuery({
    ...trpc.policies.summary.queryOptions(),
    enabled: can("policy:read"),
    refetchInterval: 60_000,
  });
  const d = summary.data;
  if (!d) return null;
  const runs = (state: string) => d.runsLast24h[state] ?? 0;
  return (
    <Card data-testid="protection-card">
      <CardHeader>
        <CardTitle>Protection</CardTitle>
      </CardHeader>
      <CardContent className="space-y-4 text-sm">
        <dl className="grid grid-cols-2 gap-3 sm:grid-cols-4">
          <div>
            <dt className="text-slate-500">Policies</dt>
            <dd className="text-lg font-semibold">
              <Link href="/policies" className="hover:underline">
                {d.enabledPolicies}
              </Link>
              {d.policies > d.enabledPolicies ? (
                <span className="text-xs font-normal text-slate-500">
                  {" "}
                  (+{d.policies - d.enabledPolicies} paused)
                </span>
              ) : null}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Runs, last 24 h</dt>
            <dd>
              {runs("started")} started
              {runs("missed") > 0 ? (
                <>
                  {" "}
                  <Badge tone="red">{runs("missed")} missed</Badge>
                </>
              ) : null}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Failed policy jobs, 24 h</dt>
            <dd className={d.failedPolicyJobsLast24h > 0 ? "font-semibold text-red-700" : ""}>
              {d.failedPolicyJobsLast24h}
            </dd>
          </div>
          <div>
            <dt className="text-slate-500">Verified restore points</dt>
            <dd>
              <Badge tone="green">{d.verify.ok ?? 0} ok</Badge>{" "}
              {(d.verify.failed ?? 0) > 0 ? <Badge tone="red">{d.verify.failed} failed</Badge> : null}{" "}
              <Badge>{d.verify.unverified ?? 0} not yet</Badge>
            </dd>
          </div>
        </dl>
        {d.recentVerifyFailures.length > 0 ? (
          <div>
            <p className="font-medium text-red-700">Verification failed:</p>
            <ul className="mt-1 space-y-1">
              {d.recentVerifyFailures.map((f) => (
                <li key={f.restorePointId}>
                  {f.vmName}, restore point of {formatDateTime(f.createdAt)} —{" "}
                  {f.verifyError ?? "see the job"} ({formatDateTime(f.verifiedAt)})
                </li>
              ))}
            </ul>
          </div>
        ) : null}
        {d.repository ? (
          <p className="text-slate-600">
            Repository: {formatBytes(d.repository.storedBytes)} stored for{" "}
            {formatBytes(d.repository.logicalBytes)} backed up (as of {formatDateTime(d.repository.at)}).
          </p>
        ) : null}
      </CardContent>
    </Card>
  );
}
