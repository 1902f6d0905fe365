"use client";

import { roleGrants, type TeamPermission } from "@lifeboat/domain/permissions";
import { useQuery } from "@tanstack/react-query";
import { useTRPC } from "@/trpc/react";

/** The signed-in account and what its roles allow (to show or hide controls; the API decides). */
export function useMe() {
  const trpc = useTRPC();
  const me = useQuery(trpc.me.get.queryOptions());
  const can = (permission: TeamPermission, teamId?: string) =>
    Boolean(
      me.data &&
        (me.data.siteAdmin ||
          me.data.teams.some(
            (t) => (teamId === undefined || t.id === teamId) && roleGrants(t.role, permission),
          )),
    );
  return { me, can };
}
