"use client";

import * as Popover from "@radix-ui/react-popover";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Bell } from "lucide-react";
import Link from "next/link";
import { formatDateTime } from "@/lib/format";
import { cn } from "@/lib/utils";
import { useTRPC } from "@/trpc/react";

/** The bell in the header: unread count, the latest notifications, mark as read. */
export function NotificationBell() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const unread = useQuery({ ...trpc.notifications.unreadCount.queryOptions(), refetchInterval: 30_000 });
  const list = useQuery(trpc.notifications.list.queryOptions({ limit: 10 }));
  const markRead = useMutation(
    trpc.notifications.markRead.mutationOptions({
      onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.notifications.pathKey() }),
    }),
  );
  const n = unread.data?.unread ?? 0;
  return (
    <Popover.Root>
      <Popover.Trigger
        className="relative rounded-md p-2 text-slate-600 hover:bg-slate-100 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-brand-500"
        aria-label={n > 0 ? `Notifications, ${n} unread` : "Notifications"}
      >
        <Bell className="h-5 w-5" aria-hidden="true" />
        {n > 0 ? (
          <span className="absolute -right-0.5 -top-0.5 min-w-5 rounded-full bg-orange-500 px-1 text-center text-[11px] font-semibold leading-5 text-white">
            {n > 99 ? "99+" : n}
          </span>
        ) : null}
      </Popover.Trigger>
      <Popover.Portal>
        <Popover.Content
          align="end"
          sideOffset={6}
          className="z-50 w-96 max-w-[calc(100vw-1rem)] rounded-md border border-slate-200 bg-white shadow-lg"
        >
          <div className="flex items-center justify-between border-b border-slate-100 px-3 py-2">
            <h2 className="text-sm font-semibold">Notifications</h2>
            <button
              type="button"
              className="text-xs text-brand-700 hover:underline disabled:opacity-50"
              disabled={n === 0 || markRead.isPending}
              onClick={() => markRead.mutate({})}
            >
              Mark all as read
            </button>
          </div>
          {list.data && list.data.items.length === 0 ? (
            <p className="px-3 py-6 text-center text-sm text-slate-500">
              Nothing new. Requests and results show up here.
            </p>
          ) : (
            <ul className="max-h-96 overflow-y-auto">
              {list.data?.items.map((item) => (
                <li
                  key={item.id}
                  className={cn("border-b border-slate-100 last:border-0", !item.read && "bg-brand-50/40")}
                >
                  <Link
                    href={item.link ?? "#"}
                    className="block px-3 py-2 hover:bg-slate-50 focus-visible:bg-slate-50 focus-visible:outline-none"
                    onClick={() => {
                      if (!item.read) markRead.mutate({ ids: [item.id] });
                    }}
                  >
                    <p className="text-sm font-medium text-slate-800">
                      {!item.read ? <span className="sr-only">Unread: </span> : null}
                      {item.title}
                    </p>
                    <p className="line-clamp-2 whitespace-pre-line text-xs text-slate-500">{item.body}</p>
                    <p className="mt-0.5 text-[11px] text-slate-400">{formatDateTime(item.createdAt)}</p>
                  </Link>
                </li>
              ))}
            </ul>
          )}
        </Popover.Content>
      </Popover.Portal>
    </Popover.Root>
  );
}
