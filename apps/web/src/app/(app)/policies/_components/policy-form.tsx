"use client";

import type { AppRouter } from "@lifeboat/api";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterInputs } from "@trpc/server";
import { useRouter } from "next/navigation";
import { useDeferredValue, useMemo, useState } from "react";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { Select } from "@/components/ui/select";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

type Spec = Extract<
  inferRouterInputs<AppRouter>["policies"]["requestChange"]["change"],
  { op: "create" }
>["spec"];

export interface PolicyFormValues {
  name: string;
  enabled: boolean;
  includeTeamVms: boolean;
  vmIds: string[];
  schedule: string;
  timezone: string;
  windowMinutes: number;
  keepLast: number;
  keepHourly: number;
  keepDaily: number;
  keepWeekly: number;
  keepMonthly: number;
  keepYearly: number;
  verifySchedule: string;
  verifyMaxAgeDays: number;
  keepSnapshot: boolean;
  backupMode: "auto" | "snapshot-chain";
  fullEveryIncrementals: number;
  fullEveryDays: number;
}

const DEFAULTS: PolicyFormValues = {
  name: "",
  enabled: true,
  includeTeamVms: false,
  vmIds: [],
  schedule: "30 2 * * *",
  timezone: "UTC",
  windowMinutes: 120,
  keepLast: 0,
  keepHourly: 0,
  keepDaily: 7,
  keepWeekly: 4,
  keepMonthly: 6,
  keepYearly: 0,
  verifySchedule: "",
  verifyMaxAgeDays: 30,
  keepSnapshot: false,
  backupMode: "auto",
  fullEveryIncrementals: 30,
  fullEveryDays: 30,
};

const RETENTION: Array<[keyof PolicyFormValues, string, string]> = [
  ["keepLast", "Keep last", "the newest N restore points"],
  ["keepHourly", "Hourly", "one per hour, for N hours"],
  ["keepDaily", "Daily", "one per day, for N days"],
  ["keepWeekly", "Weekly", "one per ISO week (Monday to Sunday)"],
  ["keepMonthly", "Monthly", "one per month"],
  ["keepYearly", "Yearly", "one per year"],
];

function zones(): string[] {
  const supported = (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf;
  const list = supported ? supported("timeZone") : [];
  return list.includes("UTC") ? list : ["UTC", ...list];
}

/** Live words and next runs of a cron expression in a zone, as the operator types. */
function SchedulePreview({ schedule, timezone, id }: { schedule: string; timezone: string; id: string }) {
  const trpc = useTRPC();
  const expr = useDeferredValue(schedule);
  const tz = useDeferredValue(timezone);
  const d = useQuery({
    ...trpc.policies.describeSchedule.queryOptions({ schedule: expr, timezone: tz }),
    enabled: expr.trim().length > 0 && tz.trim().length > 0,
    placeholderData: (prev) => prev,
  });
  if (!expr.trim()) return null;
  if (!d.data) return null;
  if (!d.data.ok)
    return (
      <p id={id} className="text-sm text-red-700">
        {d.data.error}
      </p>
    );
  return (
    <div id={id} className="rounded-md bg-slate-50 px-3 py-2 text-sm">
      <p className="font-medium text-slate-800" data-testid={`${id}-words`}>
        {d.data.words}
      </p>
      <p className="mt-1 text-xs text-slate-500">Next runs ({tz}):</p>
      <ol className="text-xs text-slate-600" aria-label={`Next runs of ${expr}`}>
        {d.data.nextRuns.map((r) => (
          <li key={r.toISOString()}>
            {r.toLocaleString(undefined, { timeZone: tz, dateStyle: "full", timeStyle: "short" })}
          </li>
        ))}
      </ol>
    </div>
  );
}

function VmPicker({
  teamId,
  values,
  onChange,
}: {
  teamId: string;
  values: PolicyFormValues;
  onChange: (v: Partial<PolicyFormValues>) => void;
}) {
  const trpc = useTRPC();
  const [search, setSearch] = useState("");
  const deferred = useDeferredValue(search);
  const vms = useQuery({
    ...trpc.teams.vms.queryOptions({ teamId, search: deferred || undefined, limit: 200 }),
    enabled: teamId.length > 0,
  });
  const chosen = new Set(values.vmIds);
  return (
    <fieldset className="space-y-3">
      <legend className="text-sm font-medium text-slate-700">VMs to protect</legend>
      <label className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={values.includeTeamVms}
          onChange={(e) => onChange({ includeTeamVms: e.target.checked })}
        />
        Every VM of the team, now and later
      </label>
      <Input
        aria-label="Search the team's VMs"
        placeholder="Search the team's VMs"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      <ErrorNote error={vms.error} />
      <ul
        className="max-h-56 space-y-1 overflow-y-auto rounded-md border border-slate-200 p-2"
        aria-label="Team VMs"
      >
        {vms.data?.items.length === 0 ? <li className="text-sm text-slate-500">No VM matches.</li> : null}
        {vms.data?.items.map((vm) => (
          <li key={vm.id}>
            <label className="flex items-center gap-2 text-sm">
              <input
                type="checkbox"
                checked={chosen.has(vm.id)}
                onChange={(e) =>
                  onChange({
                    vmIds: e.target.checked
                      ? [...values.vmIds, vm.id]
                      : values.vmIds.filter((id) => id !== vm.id),
                  })
                }
              />
              {vm.name} <span className="text-xs text-slate-500">{vm.engineName}</span>
              {vm.gone ? <span className="text-xs text-red-600">(gone)</span> : null}
            </label>
          </li>
        ))}
      </ul>
      <p className="text-xs text-slate-500">{values.vmIds.length} chosen explicitly.</p>
    </fieldset>
  );
}

function numberField(
  id: string,
  label: string,
  value: number,
  set: (n: number) => void,
  opts: { min?: number; hint?: string } = {},
) {
  return (
    <div className="space-y-1.5">
      <Label htmlFor={id}>{label}</Label>
      <Input
        id={id}
        type="number"
        inputMode="numeric"
        min={opts.min ?? 0}
        value={Number.isFinite(value) ? value : ""}
        onChange={(e) => set(e.target.value === "" ? 0 : Number(e.target.value))}
        aria-describedby={opts.hint ? `${id}-hint` : undefined}
      />
      {opts.hint ? (
        <p id={`${id}-hint`} className="text-xs text-slate-500">
          {opts.hint}
        </p>
      ) : null}
    </div>
  );
}

/**
 * The policy form, for a new policy or a change of one. Submitting asks for approval: nothing changes until
 * another approver of the team approves.
 */
export function PolicyForm({
  initial,
  teamId: fixedTeamId,
  policyId,
  baseUpdatedAt,
}: {
  initial?: PolicyFormValues;
  teamId?: string;
  policyId?: string;
  baseUpdatedAt?: Date;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const { me, can } = useMe();
  const [values, setValues] = useState<PolicyFormValues>(initial ?? DEFAULTS);
  const [reason, setReason] = useState("");
  const manageable = (me.data?.teams ?? []).filter((t) => can("policy:manage", t.id));
  const teams = useQuery({ ...trpc.teams.list.queryOptions(), enabled: me.data?.siteAdmin === true });
  const teamChoices = me.data?.siteAdmin
    ? (teams.data ?? []).map((t) => ({ id: t.id, name: t.name }))
    : manageable.map((t) => ({ id: t.id, name: t.name }));
  const [teamId, setTeamId] = useState(fixedTeamId ?? "");
  const effectiveTeam = fixedTeamId ?? (teamId || teamChoices[0]?.id || "");
  const zoneList = useMemo(zones, []);
  const set = (v: Partial<PolicyFormValues>) => setValues((old) => ({ ...old, ...v }));
  const request = useMutation(
    trpc.policies.requestChange.mutationOptions({
      onSuccess: (r) => {
        toast.success("Sent for approval", { description: r.summary });
        void queryClient.invalidateQueries({ queryKey: trpc.policies.pathKey() });
        router.push(policyId ? `/policies/${policyId}` : "/policies");
      },
    }),
  );
  const submit = () => {
    const spec: Spec = { ...values, verifySchedule: values.verifySchedule.trim() || null };
    request.mutate({
      teamId: effectiveTeam,
      change: policyId ? { op: "update", policyId, spec, baseUpdatedAt } : { op: "create", spec },
      reason,
    });
  };
  return (
    <form
      className="space-y-6"
      onSubmit={(e) => {
        e.preventDefault();
        submit();
      }}
    >
      <Card>
        <CardHeader>
          <CardTitle>What</CardTitle>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-2">
          {fixedTeamId ? null : (
            <div className="space-y-1.5">
              <Label htmlFor="policy-team">Team</Label>
              <Select
                id="policy-team"
                value={effectiveTeam}
                onChange={(e) => setTeamId(e.target.value)}
                required
              >
                {teamChoices.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </Select>
            </div>
          )}
          <div className="space-y-1.5">
            <Label htmlFor="policy-name">Name</Label>
            <Input
              id="policy-name"
              value={values.name}
              onChange={(e) => set({ name: e.target.value })}
              required
              maxLength={100}
              autoComplete="off"
            />
          </div>
          <div className="md:col-span-2">
            {effectiveTeam ? <VmPicker teamId={effectiveTeam} values={values} onChange={set} /> : null}
          </div>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              checked={values.enabled}
              onChange={(e) => set({ enabled: e.target.checked })}
            />
            Enabled (runs on its schedule)
          </label>
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>How</CardTitle>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-3">
          <div className="space-y-1.5">
            <Label htmlFor="policy-backup-mode">Backup mode</Label>
            <Select
              id="policy-backup-mode"
              value={values.backupMode}
              onChange={(e) =>
                set({
                  backupMode: e.target.value === "snapshot-chain" ? "snapshot-chain" : "auto",
                  // Only the snapshot chain has a snapshot to keep.
                  ...(e.target.value === "snapshot-chain" ? {} : { keepSnapshot: false }),
                })
              }
              aria-describedby="policy-backup-mode-hint"
            >
              <option value="auto">Auto (incremental)</option>
              <option value="snapshot-chain">Snapshot chain</option>
            </Select>
            <p id="policy-backup-mode-hint" className="text-xs text-slate-500">
              {values.backupMode === "auto"
                ? "Incremental backups through the engine's backup API where the engine and the disks allow them (only the changed blocks are read), else the snapshot chain."
                : "Every backup takes a snapshot and copies the changed volumes of each disk's chain."}
            </p>
          </div>
          {values.backupMode === "auto" ? (
            <>
              {numberField(
                "policy-full-every-incrementals",
                "Full backup after (incrementals)",
                values.fullEveryIncrementals,
                (n) => set({ fullEveryIncrementals: n }),
                { hint: "A full backup once this many incrementals followed the last one; 0 for no limit." },
              )}
              {numberField(
                "policy-full-every-days",
                "Full backup every (days)",
                values.fullEveryDays,
                (n) => set({ fullEveryDays: n }),
                { hint: "A full backup once the last one is this old; 0 for no limit." },
              )}
            </>
          ) : (
            <label className="flex items-center gap-2 text-sm md:col-span-2">
              <input
                type="checkbox"
                checked={values.keepSnapshot}
                onChange={(e) => set({ keepSnapshot: e.target.checked })}
              />
              Keep the backup snapshot on the engine
            </label>
          )}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>When</CardTitle>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-2">
          <div className="space-y-1.5">
            <Label htmlFor="policy-schedule">Schedule (cron)</Label>
            <Input
              id="policy-schedule"
              value={values.schedule}
              onChange={(e) => set({ schedule: e.target.value })}
              required
              className="font-mono"
              aria-describedby="policy-schedule-preview"
              autoComplete="off"
            />
            <p className="text-xs text-slate-500">
              minute hour day-of-month month day-of-week, e.g. 30 2 * * *
            </p>
          </div>
          <div className="space-y-1.5">
            <Label htmlFor="policy-timezone">Time zone</Label>
            <Input
              id="policy-timezone"
              list="policy-timezones"
              value={values.timezone}
              onChange={(e) => set({ timezone: e.target.value })}
              required
              autoComplete="off"
            />
            <datalist id="policy-timezones">
              {zoneList.map((z) => (
                <option key={z} value={z} />
              ))}
            </datalist>
          </div>
          <div className="md:col-span-2">
            <SchedulePreview
              schedule={values.schedule}
              timezone={values.timezone}
              id="policy-schedule-preview"
            />
          </div>
          {numberField(
            "policy-window",
            "Backup window (minutes)",
            values.windowMinutes,
            (n) => set({ windowMinutes: n }),
            {
              min: 1,
              hint: "A run starts no later than this after its time; otherwise it is recorded as missed.",
            },
          )}
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Keep (retention)</CardTitle>
        </CardHeader>
        <CardContent className="space-y-3">
          <div className="grid gap-4 sm:grid-cols-3 lg:grid-cols-6">
            {RETENTION.map(([key, label, hint]) =>
              numberField(`policy-${key}`, label, values[key] as number, (n) => set({ [key]: n }), { hint }),
            )}
          </div>
          <p className="text-xs text-slate-500">
            Rules apply newest first, in this order, each to the restore points the ones before it did not
            keep (the Proxmox Backup Server model); calendar periods follow the policy's time zone. Pinned
            restore points are always kept.
          </p>
        </CardContent>
      </Card>

      <Card>
        <CardHeader>
          <CardTitle>Verify</CardTitle>
        </CardHeader>
        <CardContent className="grid gap-4 md:grid-cols-2">
          <div className="space-y-1.5">
            <Label htmlFor="policy-verify">Verify schedule (cron, empty for none)</Label>
            <Input
              id="policy-verify"
              value={values.verifySchedule}
              onChange={(e) => set({ verifySchedule: e.target.value })}
              className="font-mono"
              aria-describedby="policy-verify-preview"
              autoComplete="off"
            />
          </div>
          {numberField(
            "policy-verify-age",
            "Verify restore points not verified for (days)",
            values.verifyMaxAgeDays,
            (n) => set({ verifyMaxAgeDays: n }),
            { min: 1 },
          )}
          <div className="md:col-span-2">
            <SchedulePreview
              schedule={values.verifySchedule}
              timezone={values.timezone}
              id="policy-verify-preview"
            />
          </div>
        </CardContent>
      </Card>

      <Card>
        <CardContent className="space-y-3 pt-4">
          <div className="space-y-1.5">
            <Label htmlFor="policy-reason">Why (the approver reads this)</Label>
            <Textarea
              id="policy-reason"
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              required
            />
          </div>
          <ErrorNote error={request.error} />
          <div className="flex flex-wrap items-center gap-3">
            <Button type="submit" disabled={request.isPending || !effectiveTeam}>
              {request.isPending ? "Sending…" : "Ask for approval"}
            </Button>
            <p className="text-xs text-slate-500">
              Nothing changes until another approver of the team approves.
              {baseUpdatedAt ? ` Editing the policy as of ${formatDateTime(baseUpdatedAt)}.` : ""}
            </p>
          </div>
        </CardContent>
      </Card>
    </form>
  );
}
