"use client";

import { useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { Logo } from "@/components/logo";
import { cn } from "@/lib/utils";
import { useTRPC } from "@/trpc/react";
import { type NavItem, navItems } from "./nav";
import { useMe } from "./use-me";

function ApprovalsBadge() {
  const trpc = useTRPC();
  const { me } = useMe();
  const counts = useQuery({
    ...trpc.approvals.counts.queryOptions(),
    refetchInterval: 30_000,
    enabled: me.data?.mustChangePassword === false,
  });
  const n = counts.data?.awaitingMyDecision ?? 0;
  if (n === 0) return null;
  return (
    <span
      className="ml-auto rounded-full bg-orange-500 px-2 py-0.5 text-xs font-semibold text-white"
      data-testid="approvals-badge"
    >
      {n}
      <span className="sr-only"> waiting for your decision</span>
    </span>
  );
}

export function Sidebar({ siteAdmin }: { siteAdmin: boolean }) {
  const pathname = usePathname() ?? "/";
  const { can } = useMe();
  const visible = (item: NavItem) =>
    (!item.siteAdmin || siteAdmin) && (!item.teamPermission || siteAdmin || can(item.teamPermission));
  return (
    <nav aria-label="Main" className="flex h-full flex-col gap-1 px-3 py-4">
      <Link href="/" className="mb-6 flex items-center gap-2 px-2 text-lg font-semibold tracking-tight">
        <Logo className="h-7 w-7 text-brand-600" />
        Lifeboat
      </Link>
      {navItems.filter(visible).map((item) => {
        const active = item.href === "/" ? pathname === "/" : pathname.startsWith(item.href);
        return (
          <Link
            key={item.href}
            href={item.href}
            aria-current={active ? "page" : undefined}
            className={cn(
              "flex items-center gap-3 rounded-md px-2 py-2 text-sm font-medium text-slate-600 hover:bg-slate-100 hover:text-slate-900 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-brand-500",
              active && "bg-brand-50 text-brand-700 hover:bg-brand-50 hover:text-brand-700",
            )}
          >
            <item.icon className="h-4 w-4" aria-hidden="true" />
            {item.label}
            {item.badge === "approvals" ? <ApprovalsBadge /> : null}
          </Link>
        );
      })}
    </nav>
  );
}
