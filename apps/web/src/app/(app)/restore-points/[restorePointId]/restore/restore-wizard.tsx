"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { AlertTriangle, CheckCircle2, Clock, Download, HardDrive, Monitor } from "lucide-react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useId, useState } from "react";
import { Button } from "@/components/ui/button";
import { Card, CardContent } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Select } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { formatBytes, formatDateTime } from "@/lib/format";
import { cn } from "@/lib/utils";
import { useTRPC } from "@/trpc/react";
import { DiskDownload } from "../disk-download";

type Target = "vm" | "disk" | "image";
const STEPS = ["Target", "Where", "Summary"] as const;

const TARGETS: Array<{ value: Target; title: string; text: string; icon: typeof Monitor }> = [
  {
    value: "vm",
    title: "A new VM",
    text: "The whole VM with all its disks and snapshots, under a new name, next to the original.",
    icon: Monitor,
  },
  {
    value: "disk",
    title: "A single disk",
    text: "One disk as a new floating disk on a storage domain, to attach to any VM.",
    icon: HardDrive,
  },
  {
    value: "image",
    title: "A disk image to download",
    text: "One disk as a qcow2 or raw file, streamed to your browser.",
    icon: Download,
  },
];

function defaultName(vmName: string): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${vmName}-restore-${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}`;
}

/** The value after the user stopped typing for a moment. */
function useSettled<T>(value: T, ms = 350): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const h = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(h);
  }, [value, ms]);
  return settled;
}

export function RestoreWizard({ restorePointId }: { restorePointId: string }) {
  const trpc = useTRPC();
  const router = useRouter();
  const ids = useId();
  const rp = useQuery(trpc.restorePoints.get.queryOptions({ id: restorePointId }));
  const [step, setStep] = useState(0);
  const [target, setTarget] = useState<Target>("vm");
  const [name, setName] = useState("");
  /** "" until the user picks one: the server's default (the point's own engine while it is enabled). */
  const [engineId, setEngineId] = useState("");
  const [engines, setEngines] = useState<Array<{ id: string; name: string; original: boolean }>>([]);
  const [clusterId, setClusterId] = useState("");
  const [domainId, setDomainId] = useState("");
  const [diskId, setDiskId] = useState("");
  const [alias, setAlias] = useState("");
  const [format, setFormat] = useState<"cow" | "raw">("cow");
  const [replaceExisting, setReplaceExisting] = useState(false);
  const [reason, setReason] = useState("");

  const point = rp.data;
  useEffect(() => {
    if (!point) return;
    setName((n) => n || defaultName(point.vmName));
    const first = point.disks[0];
    if (first) {
      setDiskId((d) => d || first.diskId);
      setAlias((a) => a || `${first.alias}-restored`);
    }
  }, [point]);
  const targets = useQuery({
    ...trpc.engines.restoreTargets.queryOptions({ restorePointId, ...(engineId ? { engineId } : {}) }),
    enabled: target !== "image",
    retry: false,
  });
  useEffect(() => {
    const t = targets.data;
    if (!t) return;
    // Kept apart from the query: an unreachable engine must not take the list away to switch back.
    setEngines(t.engines);
    setClusterId((c) => c || t.clusters[0]?.id || "");
    setDomainId((d) => d || t.storageDomains[0]?.id || "");
  }, [targets.data]);

  const settledName = useSettled(name.trim());
  const check = useQuery({
    ...trpc.restores.checkName.queryOptions({
      restorePointId,
      name: settledName,
      ...(engineId ? { engineId } : {}),
    }),
    enabled: target === "vm" && settledName.length > 0 && targets.data !== undefined,
    retry: false,
  });
  const startVm = useMutation(trpc.restores.start.mutationOptions());
  const startDisk = useMutation(trpc.restores.startDisk.mutationOptions());
  const started = startVm.data ?? startDisk.data;
  const submitError = startVm.error ?? startDisk.error;

  if (rp.error)
    return (
      <div className="mx-auto max-w-3xl space-y-4">
        <PageHeader title="Restore" />
        <ErrorNote error={rp.error} />
      </div>
    );
  if (!point)
    return <div className="mx-auto h-48 max-w-3xl animate-pulse rounded-lg bg-slate-100" aria-busy="true" />;

  const disk = point.disks.find((d) => d.diskId === diskId) ?? point.disks[0];
  const targetEngineId = engineId || targets.data?.engineId || "";
  const targetEngineName =
    engines.find((e) => e.id === targetEngineId)?.name ?? targets.data?.engineName ?? point.engineName;
  const crossEngine =
    targets.data !== undefined && targetEngineId !== "" && targetEngineId !== point.engineId;
  const cluster = targets.data?.clusters.find((c) => c.id === clusterId);
  const domain = targets.data?.storageDomains.find((s) => s.id === domainId);
  const collides = target === "vm" && check.data?.replaces != null;
  const approval = target === "vm" ? (check.data?.approvalRequired ?? false) || replaceExisting : false;
  const nameReady =
    target !== "vm" ||
    (check.data !== undefined && settledName === name.trim() && (!collides || replaceExisting));
  const whereReady =
    target === "image" ||
    (target === "vm"
      ? name.trim().length > 0 && !!clusterId && !!domainId && nameReady
      : alias.trim().length > 0 && !!domainId);

  if (started)
    return (
      <div className="mx-auto max-w-3xl space-y-5">
        <PageHeader title={`Restore ${point.vmName}`} />
        {started.status === "queued" ? (
          <Card className="border-green-300">
            <CardContent className="flex items-start gap-3 py-5">
              <CheckCircle2 className="mt-0.5 h-6 w-6 text-green-600" aria-hidden="true" />
              <div className="space-y-2" role="status">
                <p className="font-medium">The restore is queued.</p>
                <p className="text-sm text-slate-600">
                  {target === "vm"
                    ? `Lifeboat creates the VM ${name.trim()} with its disks, uploads every layer, and waits until the engine reports them ok.`
                    : `Lifeboat creates the disk ${alias.trim()} and uploads its data.`}
                </p>
                <Button asChild>
                  <Link href={`/jobs/${started.jobId}`}>Follow the restore</Link>
                </Button>
              </div>
            </CardContent>
          </Card>
        ) : (
          <Card className="border-amber-300">
            <CardContent className="flex items-start gap-3 py-5">
              <Clock className="mt-0.5 h-6 w-6 text-amber-600" aria-hidden="true" />
              <div className="space-y-2" role="status">
                <p className="font-medium">
                  Approval requested — nothing runs until another approver of the team agrees.
                </p>
                {started.why.length ? (
                  <ul className="list-disc pl-5 text-sm text-slate-600">
                    {started.why.map((w) => (
                      <li key={w}>{w}</li>
                    ))}
                  </ul>
                ) : null}
                <p className="text-sm text-slate-600">
                  The request expires on {formatDateTime(started.expiresAt)}.
                </p>
                <Button asChild variant="secondary">
                  <Link href={`/approvals?id=${started.approvalRequestId}`}>See the request</Link>
                </Button>
              </div>
            </CardContent>
          </Card>
        )}
      </div>
    );

  const submit = () => {
    if (target === "vm")
      startVm.mutate({
        restorePointId,
        ...(engineId ? { engineId } : {}),
        name: name.trim(),
        ...(clusterId ? { cluster: { id: clusterId } } : {}),
        ...(domainId ? { storageDomain: { id: domainId } } : {}),
        replaceExisting,
        ...(reason.trim() ? { reason: reason.trim() } : {}),
      });
    else if (target === "disk" && disk)
      startDisk.mutate({
        restorePointId,
        ...(engineId ? { engineId } : {}),
        diskId: disk.diskId,
        alias: alias.trim(),
        ...(domainId ? { storageDomain: { id: domainId } } : {}),
        format,
        ...(reason.trim() ? { reason: reason.trim() } : {}),
      });
  };

  return (
    <div className="mx-auto max-w-3xl space-y-5">
      <nav aria-label="Breadcrumb" className="text-sm text-slate-500">
        <Link href={`/restore-points/${point.id}`} className="hover:underline">
          {point.vmName} · {formatDateTime(point.createdAt)}
        </Link>{" "}
        / Restore
      </nav>
      <PageHeader
        title={`Restore ${point.vmName}`}
        description={`From the restore point of ${formatDateTime(point.createdAt)} on ${point.engineName}.`}
      />
      <ol className="flex gap-2 text-sm" aria-label="Steps">
        {STEPS.map((s, i) => (
          <li
            key={s}
            aria-current={i === step ? "step" : undefined}
            className={cn(
              "flex-1 rounded-md border px-3 py-2",
              i === step
                ? "border-brand-500 bg-brand-50 font-medium text-brand-700"
                : "border-slate-200 bg-white text-slate-500",
            )}
          >
            {i + 1}. {s}
          </li>
        ))}
      </ol>

      <Card>
        <CardContent className="space-y-5 py-5">
          {step === 0 ? (
            <fieldset className="space-y-3">
              <legend className="mb-2 font-medium">What should the restore produce?</legend>
              {TARGETS.map((t) => (
                <label
                  key={t.value}
                  className={cn(
                    "flex cursor-pointer items-start gap-3 rounded-md border p-3 focus-within:ring-2 focus-within:ring-brand-500",
                    target === t.value
                      ? "border-brand-500 bg-brand-50"
                      : "border-slate-200 hover:bg-slate-50",
                  )}
                >
                  <input
                    type="radio"
                    name="target"
                    value={t.value}
                    checked={target === t.value}
                    onChange={() => setTarget(t.value)}
                    className="mt-1"
                  />
                  <t.icon className="mt-0.5 h-5 w-5 text-slate-500" aria-hidden="true" />
                  <span>
                    <span className="block font-medium">{t.title}</span>
                    <span className="block text-sm text-slate-500">{t.text}</span>
                  </span>
                </label>
              ))}
            </fieldset>
          ) : null}

          {step === 1 ? (
            <div className="space-y-4">
              {target !== "image" ? (
                <>
                  <div className="space-y-1">
                    <Label htmlFor={`${ids}-engine`}>Engine</Label>
                    <Select
                      id={`${ids}-engine`}
                      value={targetEngineId}
                      onChange={(e) => {
                        // Clusters and storage domains belong to an engine: pick again from the new one.
                        setEngineId(e.target.value);
                        setClusterId("");
                        setDomainId("");
                        setReplaceExisting(false);
                      }}
                      disabled={engines.length === 0}
                      aria-describedby={`${ids}-engine-hint`}
                    >
                      {engines.length === 0 ? <option value="">{point.engineName}</option> : null}
                      {engines.map((e) => (
                        <option key={e.id} value={e.id}>
                          {e.name}
                          {e.original ? " — backed up from here" : ""}
                        </option>
                      ))}
                    </Select>
                    <p id={`${ids}-engine-hint`} className="text-xs text-slate-500">
                      {crossEngine
                        ? `Restoring to another engine (another site): its clusters and storage domains are read from ${targetEngineName}.`
                        : "The engine the VM was backed up from; pick another to restore at another site."}
                    </p>
                  </div>
                  <ErrorNote
                    error={targets.error}
                    action={
                      <Button size="sm" variant="secondary" onClick={() => void targets.refetch()}>
                        Ask the engine again
                      </Button>
                    }
                  />
                </>
              ) : null}
              {target === "vm" ? (
                <>
                  <div className="grid gap-4 sm:grid-cols-2">
                    <div className="space-y-1">
                      <Label htmlFor={`${ids}-cluster`}>Cluster</Label>
                      <Select
                        id={`${ids}-cluster`}
                        value={clusterId}
                        onChange={(e) => setClusterId(e.target.value)}
                        disabled={!targets.data}
                      >
                        {targets.isLoading ? <option>Reading the engine…</option> : null}
                        {targets.data?.clusters.map((c) => (
                          <option key={c.id} value={c.id}>
                            {c.name}
                            {c.version ? ` (${c.version})` : ""}
                            {c.original ? " — original" : ""}
                          </option>
                        ))}
                      </Select>
                    </div>
                    <div className="space-y-1">
                      <Label htmlFor={`${ids}-domain`}>Storage domain</Label>
                      <Select
                        id={`${ids}-domain`}
                        value={domainId}
                        onChange={(e) => setDomainId(e.target.value)}
                        disabled={!targets.data}
                      >
                        {targets.isLoading ? <option>Reading the engine…</option> : null}
                        {targets.data?.storageDomains.map((s) => (
                          <option key={s.id} value={s.id}>
                            {s.name}
                            {s.availableBytes !== null ? ` — ${formatBytes(s.availableBytes)} free` : ""}
                            {s.original ? " — original" : ""}
                          </option>
                        ))}
                      </Select>
                    </div>
                  </div>
                  <div className="space-y-1">
                    <Label htmlFor={`${ids}-name`}>Name of the new VM</Label>
                    <Input
                      id={`${ids}-name`}
                      value={name}
                      maxLength={255}
                      onChange={(e) => {
                        setName(e.target.value);
                        setReplaceExisting(false);
                      }}
                      aria-describedby={`${ids}-name-check`}
                    />
                    <div id={`${ids}-name-check`} className="min-h-5 text-sm" aria-live="polite">
                      {check.isFetching || settledName !== name.trim() ? (
                        <span className="text-slate-500">Checking the name on {targetEngineName}…</span>
                      ) : check.error ? (
                        <span className="text-red-700">{check.error.message}</span>
                      ) : check.data && !collides ? (
                        <span className="text-green-700" data-testid="name-free">
                          The name is free on {targetEngineName}.
                        </span>
                      ) : null}
                    </div>
                    {collides && check.data ? (
                      <div className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900">
                        <p className="flex items-start gap-2">
                          <AlertTriangle className="mt-0.5 h-4 w-4 shrink-0" aria-hidden="true" />
                          {check.data.why.join("; ")}. Choose another name — or replace it, which another
                          approver must approve first.
                        </p>
                        <label className="flex items-center gap-2">
                          <input
                            type="checkbox"
                            checked={replaceExisting}
                            onChange={(e) => setReplaceExisting(e.target.checked)}
                          />
                          Replace the existing VM &quot;{check.data.replaces?.name}&quot; (asks for approval)
                        </label>
                      </div>
                    ) : null}
                  </div>
                </>
              ) : null}
              {target !== "vm" ? (
                <div className="space-y-1">
                  <Label htmlFor={`${ids}-disk`}>Disk</Label>
                  <Select
                    id={`${ids}-disk`}
                    value={disk?.diskId ?? ""}
                    onChange={(e) => {
                      setDiskId(e.target.value);
                      const d = point.disks.find((x) => x.diskId === e.target.value);
                      if (d) setAlias(`${d.alias}-restored`);
                    }}
                  >
                    {point.disks.map((d) => (
                      <option key={d.diskId} value={d.diskId}>
                        {d.alias} — {formatBytes(d.provisionedSize)}
                        {d.bootable ? ", bootable" : ""}
                      </option>
                    ))}
                  </Select>
                </div>
              ) : null}
              {target === "disk" ? (
                <div className="grid gap-4 sm:grid-cols-3">
                  <div className="space-y-1 sm:col-span-2">
                    <Label htmlFor={`${ids}-alias`}>Name of the new disk</Label>
                    <Input
                      id={`${ids}-alias`}
                      value={alias}
                      maxLength={255}
                      onChange={(e) => setAlias(e.target.value)}
                    />
                  </div>
                  <div className="space-y-1">
                    <Label htmlFor={`${ids}-format`}>Format</Label>
                    <Select
                      id={`${ids}-format`}
                      value={format}
                      onChange={(e) => setFormat(e.target.value as "cow" | "raw")}
                    >
                      <option value="cow">qcow2 (thin)</option>
                      <option value="raw">raw</option>
                    </Select>
                  </div>
                  <div className="space-y-1 sm:col-span-3">
                    <Label htmlFor={`${ids}-domain2`}>Storage domain</Label>
                    <Select
                      id={`${ids}-domain2`}
                      value={domainId}
                      onChange={(e) => setDomainId(e.target.value)}
                      disabled={!targets.data}
                    >
                      {targets.data?.storageDomains.map((s) => (
                        <option key={s.id} value={s.id}>
                          {s.name}
                          {s.availableBytes !== null ? ` — ${formatBytes(s.availableBytes)} free` : ""}
                        </option>
                      ))}
                    </Select>
                  </div>
                </div>
              ) : null}
              {target === "image" && disk ? (
                <div className="space-y-2 rounded-md bg-slate-50 p-3 text-sm">
                  <p>
                    {disk.alias}: {formatBytes(disk.provisionedSize)} as a raw image; a qcow2 image holds only
                    the allocated data. Downloads can be resumed.
                  </p>
                  <DiskDownload restorePointId={point.id} diskId={disk.diskId} alias={disk.alias} />
                </div>
              ) : null}
            </div>
          ) : null}

          {step === 2 ? (
            <div className="space-y-4">
              <h2 className="font-medium">Summary</h2>
              <dl className="grid grid-cols-[auto_1fr] gap-x-6 gap-y-2 text-sm">
                <dt className="text-slate-500">From</dt>
                <dd>
                  {point.vmName}, restore point of {formatDateTime(point.createdAt)}
                </dd>
                <dt className="text-slate-500">Engine</dt>
                <dd data-testid="summary-engine">
                  {targetEngineName}
                  {crossEngine ? ` (backed up from ${point.engineName})` : ""}
                </dd>
                {target === "vm" ? (
                  <>
                    <dt className="text-slate-500">New VM</dt>
                    <dd className="font-medium" data-testid="summary-name">
                      {name.trim()}
                    </dd>
                    <dt className="text-slate-500">Cluster</dt>
                    <dd>{cluster?.name ?? "—"}</dd>
                    <dt className="text-slate-500">Disks</dt>
                    <dd>
                      {point.disks.map((d) => d.alias).join(", ")} on {domain?.name ?? "—"}
                    </dd>
                    {replaceExisting && check.data?.replaces ? (
                      <>
                        <dt className="text-slate-500">Replaces</dt>
                        <dd className="font-medium text-red-700">
                          the existing VM {check.data.replaces.name} (removed first)
                        </dd>
                      </>
                    ) : null}
                  </>
                ) : (
                  <>
                    <dt className="text-slate-500">New disk</dt>
                    <dd className="font-medium">
                      {alias.trim()} ({format === "cow" ? "qcow2" : "raw"}) from {disk?.alias}
                    </dd>
                    <dt className="text-slate-500">Storage domain</dt>
                    <dd>{domain?.name ?? "—"}</dd>
                  </>
                )}
              </dl>
              {approval ? (
                <div className="space-y-2 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm">
                  <p className="font-medium text-amber-900">
                    This restore waits for another approver of the team.
                  </p>
                  {check.data?.why.length ? (
                    <ul className="list-disc pl-5 text-amber-900">
                      {check.data.why.map((w) => (
                        <li key={w}>{w}</li>
                      ))}
                    </ul>
                  ) : null}
                  <Label htmlFor={`${ids}-reason`}>Why (the approver reads this)</Label>
                  <Textarea
                    id={`${ids}-reason`}
                    required
                    value={reason}
                    onChange={(e) => setReason(e.target.value)}
                  />
                </div>
              ) : null}
              <ErrorNote error={submitError} />
            </div>
          ) : null}
        </CardContent>
      </Card>

      <div className="flex justify-between gap-2">
        <Button
          variant="secondary"
          onClick={() => (step === 0 ? router.push(`/restore-points/${point.id}`) : setStep(step - 1))}
        >
          {step === 0 ? "Cancel" : "Back"}
        </Button>
        {step < 2 && !(step === 1 && target === "image") ? (
          <Button onClick={() => setStep(step + 1)} disabled={step === 1 && !whereReady}>
            Next
          </Button>
        ) : step === 2 ? (
          <Button
            onClick={submit}
            disabled={startVm.isPending || startDisk.isPending || (approval && reason.trim().length === 0)}
          >
            {approval ? "Ask for approval" : target === "vm" ? "Restore the VM" : "Restore the disk"}
          </Button>
        ) : null}
      </div>
    </div>
  );
}
