"use client";

import { useQuery } from "@tanstack/react-query";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { useTRPC } from "@/trpc/react";

const STATES = ["succeeded", "failed", "running", "queued", "cancelled"] as const;

export function Overview() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.get.queryOptions());
  const summary = useQuery(trpc.overview.summary.queryOptions());
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <div>
        <h1 className="text-2xl font-semibold tracking-tight">Overview</h1>
        <p className="text-sm text-slate-500">
          {me.data ? `Signed in as ${me.data.name}` : "\u00a0"}
          {me.data?.siteAdmin ? " · site administrator" : ""}
        </p>
      </div>
      <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
        <Card>
          <CardHeader>
            <CardTitle>Engines</CardTitle>
          </CardHeader>
          <CardContent>
            <p className="text-3xl font-semibold" data-testid="engine-count">
              {summary.data?.engines ?? "–"}
            </p>
          </CardContent>
        </Card>
        <Card className="sm:col-span-1 lg:col-span-2">
          <CardHeader>
            <CardTitle>Jobs in the last 24 hours</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="grid grid-cols-5 gap-2 text-center">
              {STATES.map((s) => (
                <div key={s}>
                  <dt className="text-xs capitalize text-slate-500">{s}</dt>
                  <dd className="text-xl font-semibold">{summary.data?.jobsLast24h[s] ?? 0}</dd>
                </div>
              ))}
            </dl>
          </CardContent>
        </Card>
      </div>
      {summary.error && (
        <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
          {summary.error.message}
        </p>
      )}
    </div>
  );
}
