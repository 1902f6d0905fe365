"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ShieldCheck } from "lucide-react";
import Link from "next/link";
import { toast } from "sonner";
import {
  BackupModeBadge,
  JobStateBadge,
  RestorePointStateBadge,
  VerifyBadge,
} from "@/components/data/badges";
import { jobTypeLabel } from "@/components/data/labels";
import { useLiveRefresh } from "@/components/data/use-live";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { PageHeader } from "@/components/ui/page-header";
import { formatBytes, formatDateTime, formatRelative } from "@/lib/format";
import { useTRPC } from "@/trpc/react";
import { DeletePointButton } from "../../policies/_components/delete-point-button";
import { PinButton } from "../../policies/_components/pin-button";
import { DiskDownload } from "./disk-download";
import { LayerChain } from "./layer-chain";

function Fact({ label, children }: { label: string; children: React.ReactNode }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-100 py-1.5 text-sm">
      <dt className="text-slate-500">{label}</dt>
      <dd className="text-right font-medium text-slate-800">{children}</dd>
    </div>
  );
}

export function PointPage({ id }: { id: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const { can } = useMe();
  useLiveRefresh(
    ["restorePoint", "job"],
    [trpc.restorePoints.get.queryKey({ id }), trpc.jobs.list.pathKey()],
    {
      filter: (ev) => ev.id === id || ev.kind === "job",
    },
  );
  const rp = useQuery(trpc.restorePoints.get.queryOptions({ id }));
  const history = useQuery(trpc.jobs.list.queryOptions({ restorePointId: id, limit: 20 }));
  const verify = useMutation(
    trpc.verify.start.mutationOptions({
      onSuccess: ({ jobId }) => {
        toast.success("Verification queued", {
          action: { label: "Follow", onClick: () => window.location.assign(`/jobs/${jobId}`) },
        });
        void queryClient.invalidateQueries({ queryKey: trpc.jobs.list.pathKey() });
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  if (rp.error)
    return (
      <div className="mx-auto max-w-6xl space-y-4">
        <PageHeader title="Restore point" />
        <ErrorNote
          error={rp.error}
          action={
            <Link href="/restore-points" className="font-medium underline">
              Search the catalog
            </Link>
          }
        />
      </div>
    );
  const p = rp.data;
  if (!p)
    return <div className="mx-auto h-48 max-w-6xl animate-pulse rounded-lg bg-slate-100" aria-busy="true" />;
  const restorable = p.state === "complete" && p.verifyState !== "failed";
  const label = `${p.vmName}, ${formatDateTime(p.createdAt)}`;
  const verifications = (history.data?.items ?? []).filter((j) => j.type === "verify");
  return (
    <div className="mx-auto max-w-6xl space-y-5">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href="/restore-points" className="hover:underline">
          Restore points
        </Link>{" "}
        /{" "}
        <Link href={`/restore-points?vm=${p.vmId}`} className="hover:underline">
          {p.vmName}
        </Link>
      </nav>
      <PageHeader
        title={`${p.vmName} · ${formatDateTime(p.createdAt)}`}
        description={
          <span className="flex flex-wrap items-center gap-2">
            <BackupModeBadge mode={p.backupMode} />
            <VerifyBadge state={p.verifyState} />
            <RestorePointStateBadge state={p.state} />
            {p.tags.map((t) => (
              <Badge key={t}>{t}</Badge>
            ))}
            <span>
              {formatRelative(p.createdAt)} on {p.engineName}
            </span>
          </span>
        }
        actions={
          <>
            {restorable && can("restore:request") ? (
              <Button asChild>
                <Link href={`/restore-points/${p.id}/restore`}>Restore…</Link>
              </Button>
            ) : null}
            {p.state === "complete" && can("backup:create") ? (
              <Button
                variant="secondary"
                disabled={verify.isPending}
                onClick={() => verify.mutate({ restorePointId: p.id })}
              >
                <ShieldCheck className="h-4 w-4" aria-hidden="true" /> Verify now
              </Button>
            ) : null}
            <PinButton restorePointId={p.id} pinned={p.pinned} onChanged={() => void rp.refetch()} />
            <DeletePointButton restorePointId={p.id} label={label} pinned={p.pinned} />
          </>
        }
      />
      {p.verifyState === "failed" ? (
        <ErrorNote
          error={`Verification found damaged data${p.verifiedAt ? ` on ${formatDateTime(p.verifiedAt)}` : ""}: ${p.verifyError ?? "see the verification job"}. This restore point cannot be restored; choose an earlier or later one.`}
        />
      ) : null}
      {p.description ? (
        <p className="rounded-md bg-white px-4 py-3 text-sm text-slate-700 shadow-sm">{p.description}</p>
      ) : null}

      <div className="grid items-start gap-5 lg:grid-cols-3">
        <Card className="lg:col-span-2">
          <CardHeader>
            <CardTitle>Disks and their layer chains</CardTitle>
          </CardHeader>
          <CardContent className="space-y-6">
            {p.disks.map((d) => (
              <section key={d.id} aria-labelledby={`disk-${d.id}`} className="space-y-3">
                <div className="flex flex-wrap items-start justify-between gap-3">
                  <div>
                    <h3 id={`disk-${d.id}`} className="font-medium">
                      {d.alias} <BackupModeBadge mode={d.backupMode} />{" "}
                      {d.bootable ? (
                        <Badge tone="blue" className="ml-1">
                          bootable
                        </Badge>
                      ) : null}
                    </h3>
                    <p className="text-xs text-slate-500">
                      {formatBytes(d.provisionedSize)} · {d.format} · {d.interface ?? "—"}
                      {d.storageDomainName ? ` · on ${d.storageDomainName}` : ""}
                    </p>
                    {d.transferredBytes !== null || d.changedBytes !== null ? (
                      <p className="text-xs text-slate-500" data-testid={`disk-bytes-${d.diskId}`}>
                        {d.changedBytes !== null ? `${formatBytes(d.changedBytes)} changed` : null}
                        {d.changedBytes !== null && d.transferredBytes !== null ? " · " : null}
                        {d.transferredBytes !== null
                          ? `${formatBytes(d.transferredBytes)} transferred`
                          : null}
                      </p>
                    ) : null}
                  </div>
                  {restorable && can("image:download") ? (
                    <DiskDownload restorePointId={p.id} diskId={d.diskId} alias={d.alias} />
                  ) : null}
                </div>
                <LayerChain alias={d.alias} layers={d.layers} />
              </section>
            ))}
          </CardContent>
        </Card>

        <div className="space-y-5">
          <Card>
            <CardHeader>
              <CardTitle>Backup</CardTitle>
            </CardHeader>
            <CardContent>
              <dl>
                <Fact label="Mode">
                  <BackupModeBadge mode={p.backupMode} />
                </Fact>
                {p.backupMode === "snapshot-chain" ? null : (
                  <>
                    <Fact label="Checkpoint">
                      <span className="font-mono text-xs" data-testid="checkpoint-id">
                        {p.toCheckpointId ?? "—"}
                      </span>
                    </Fact>
                    {p.fromCheckpointId ? (
                      <Fact label="Incremental from">
                        <span className="font-mono text-xs">{p.fromCheckpointId}</span>
                      </Fact>
                    ) : null}
                  </>
                )}
              </dl>
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>From the OVF</CardTitle>
            </CardHeader>
            <CardContent>
              <dl>
                <Fact label="Operating system">{p.facts.osType ?? "—"}</Fact>
                <Fact label="Cluster">{p.facts.clusterName ?? "—"}</Fact>
                <Fact label="CPUs">{p.facts.cpuCount ?? "—"}</Fact>
                <Fact label="Memory">
                  {p.facts.memoryMiB ? formatBytes(p.facts.memoryMiB * 1024 * 1024) : "—"}
                </Fact>
                <Fact label="Network interfaces">{p.facts.nicCount}</Fact>
              </dl>
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Sizes</CardTitle>
            </CardHeader>
            <CardContent>
              <dl>
                <Fact label="Disks (virtual)">{formatBytes(p.virtualBytes)}</Fact>
                <Fact label="All layers">{formatBytes(p.logicalBytes)}</Fact>
                <Fact label="Downloaded">{formatBytes(p.transferredBytes)}</Fact>
                {p.disks.some((d) => d.changedBytes !== null) ? (
                  <Fact label="Changed (engine's dirty extents)">
                    {formatBytes(p.disks.reduce((n, d) => n + (d.changedBytes ?? 0), 0))}
                  </Fact>
                ) : null}
                <Fact label="Added to the repository">{formatBytes(p.newStoredBytes)}</Fact>
              </dl>
              <p className="mt-2 text-xs text-slate-500">
                {p.snapshotKept
                  ? `The snapshot ${p.snapshotId ?? ""} was kept on the engine.`
                  : "The snapshot was merged back."}
                {p.jobId ? (
                  <>
                    {" "}
                    <Link href={`/jobs/${p.jobId}`} className="text-brand-700 hover:underline">
                      Backup job
                    </Link>
                  </>
                ) : null}
                {p.policyId ? (
                  <>
                    {" · "}
                    <Link href={`/policies/${p.policyId}`} className="text-brand-700 hover:underline">
                      Policy
                    </Link>
                  </>
                ) : null}
              </p>
            </CardContent>
          </Card>
          <Card>
            <CardHeader>
              <CardTitle>Verification</CardTitle>
            </CardHeader>
            <CardContent className="space-y-2 text-sm">
              <p>
                <VerifyBadge state={p.verifyState} />{" "}
                {p.verifiedAt
                  ? `last on ${formatDateTime(p.verifiedAt)}`
                  : "never verified: every chunk is re-read and re-hashed"}
              </p>
              {verifications.length > 0 ? (
                <ul className="space-y-1">
                  {verifications.map((j) => (
                    <li key={j.id} className="flex items-center justify-between gap-2">
                      <Link href={`/jobs/${j.id}`} className="text-brand-700 hover:underline">
                        {formatDateTime(j.createdAt)}
                      </Link>
                      <JobStateBadge state={j.state} />
                    </li>
                  ))}
                </ul>
              ) : null}
            </CardContent>
          </Card>
        </div>
      </div>

      <Card>
        <CardHeader>
          <CardTitle>History</CardTitle>
        </CardHeader>
        <CardContent>
          {history.data && history.data.items.length === 0 ? (
            <p className="text-sm text-slate-500">No restores or verifications of this restore point yet.</p>
          ) : (
            <ul className="divide-y divide-slate-100 text-sm">
              {history.data?.items.map((j) => (
                <li key={j.id} className="flex flex-wrap items-center justify-between gap-2 py-2">
                  <Link href={`/jobs/${j.id}`} className="font-medium text-brand-700 hover:underline">
                    {jobTypeLabel(j.type)} · {formatDateTime(j.createdAt)}
                  </Link>
                  <JobStateBadge state={j.state} />
                </li>
              ))}
            </ul>
          )}
        </CardContent>
      </Card>
    </div>
  );
}
