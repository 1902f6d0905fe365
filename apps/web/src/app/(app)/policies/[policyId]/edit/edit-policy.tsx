"use client";

import { useQuery } from "@tanstack/react-query";
import { ErrorNote } from "@/components/ui/error-note";
import { PageHeader } from "@/components/ui/page-header";
import { useTRPC } from "@/trpc/react";
import { PolicyForm } from "../../_components/policy-form";

/** The policy form filled with the policy as it is now; the change waits for approval. */
export function EditPolicy({ policyId }: { policyId: string }) {
  const trpc = useTRPC();
  const got = useQuery({ ...trpc.policies.get.queryOptions({ policyId }), refetchOnWindowFocus: false });
  const p = got.data?.policy;
  return (
    <div className="mx-auto max-w-4xl space-y-6">
      <PageHeader
        title={p ? `Change ${p.name}` : "Change policy"}
        description="The change applies once another approver of the team approves it."
      />
      <ErrorNote error={got.error} />
      {p ? (
        <PolicyForm
          teamId={p.teamId}
          policyId={p.id}
          baseUpdatedAt={p.updatedAt}
          initial={{
            name: p.name,
            enabled: p.enabled,
            includeTeamVms: p.includeTeamVms,
            vmIds: p.vmIds,
            schedule: p.schedule,
            timezone: p.timezone,
            windowMinutes: p.windowMinutes,
            keepLast: p.keepLast,
            keepHourly: p.keepHourly,
            keepDaily: p.keepDaily,
            keepWeekly: p.keepWeekly,
            keepMonthly: p.keepMonthly,
            keepYearly: p.keepYearly,
            verifySchedule: p.verifySchedule ?? "",
            verifyMaxAgeDays: p.verifyMaxAgeDays,
            keepSnapshot: p.keepSnapshot,
            backupMode: p.backupMode,
            fullEveryIncrementals: p.fullEveryIncrementals,
            fullEveryDays: p.fullEveryDays,
          }}
        />
      ) : null}
    </div>
  );
}
