import type { TeamPermission } from "@lifeboat/domain/permissions";
import {
  Activity,
  Archive,
  CalendarClock,
  CheckCheck,
  LayoutDashboard,
  type LucideIcon,
  Monitor,
  ScrollText,
  Settings,
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
  { href: "/vms", label: "VMs", icon: Monitor, teamPermission: "vm:read" },
  { href: "/restore-points", label: "Restore points", icon: Archive, teamPermission: "restore-point:read" },
  { href: "/jobs", label: "Jobs", icon: Activity, teamPermission: "job:read" },
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
  { href: "/settings", label: "Settings", icon: Settings, siteAdmin: true },
];
