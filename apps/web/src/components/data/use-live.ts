"use client";

import type { LiveEvent } from "@lifeboat/domain";
import { type QueryKey, useQueryClient } from "@tanstack/react-query";
import { useSubscription } from "@trpc/tanstack-react-query";
import { useEffect, useRef } from "react";
import { useTRPC } from "@/trpc/react";

export type LiveKind = LiveEvent["kind"];

/**
 * Live updates for a page: one SSE subscription (tRPC over PostgreSQL LISTEN/NOTIFY) that refetches the queries
 * the page names whenever something of the given kinds changes — throttled, so a running backup's progress
 * refetches at most twice a second. Returns whether the subscription is live; pages poll every second instead
 * while it is not (never slower).
 */
export function useLiveRefresh(
  kinds: LiveKind[],
  queryKeys: QueryKey[],
  opts: { onEvent?: (ev: LiveEvent) => void; filter?: (ev: LiveEvent) => boolean } = {},
): { live: boolean } {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const pending = useRef<ReturnType<typeof setTimeout> | null>(null);
  const latest = useRef({ kinds, queryKeys, opts });
  latest.current = { kinds, queryKeys, opts };
  useEffect(
    () => () => {
      if (pending.current) clearTimeout(pending.current);
    },
    [],
  );
  const sub = useSubscription(
    trpc.events.subscribe.subscriptionOptions(undefined, {
      onData: (ev) => {
        const { kinds: k, opts: o } = latest.current;
        if (ev.kind !== "resync" && !k.includes(ev.kind)) return;
        if (ev.kind !== "resync" && o.filter && !o.filter(ev)) return;
        o.onEvent?.(ev);
        if (pending.current) return;
        pending.current = setTimeout(() => {
          pending.current = null;
          for (const key of latest.current.queryKeys) void queryClient.invalidateQueries({ queryKey: key });
        }, 400);
      },
    }),
  );
  return { live: sub.status === "pending" };
}

/** `refetchInterval` for a query that live updates keep fresh: poll every second only while they are down. */
export function pollUnlessLive(live: boolean, active = true): number | false {
  return !live && active ? 1000 : false;
}
