import type { TeamPermission } from "@lifeboat/api/permissions";
import {
  CalendarClock,
  CheckCheck,
  LayoutDashboard,
  type LucideIcon,
  ScrollText,
  UserCog,
  Users,
} from "lucide-react";

export interface NavItem {
  href: string;
  label: string;
  icon: LucideIcon;
  /** Shown to site administrators only. */
  siteAdmin?: boolean;
  /** Shown to site administrators and to members whose team role grants this permission. */
  teamPermission?: TeamPermission;
  /** A live count next to the label. */
  badge?: "approvals";
}

/** The sidebar, in order. Each page adds its entry here. */
export const navItems: NavItem[] = [
  { href: "/", label: "Overview", icon: LayoutDashboard },
  {
    href: "/approvals",
    label: "Approvals",
    icon: CheckCheck,
    badge: "approvals",
    teamPermission: "approval:read",
  },
  { href: "/policies", label: "Policies", icon: CalendarClock, teamPermission: "policy:read" },
  { href: "/teams", label: "Teams", icon: Users },
  { href: "/audit", label: "Audit log", icon: ScrollText, teamPermission: "audit:read" },
  { href: "/admin/users", label: "Users", icon: UserCog, siteAdmin: true },
];
