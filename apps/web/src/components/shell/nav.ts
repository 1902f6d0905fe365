import { LayoutDashboard, type LucideIcon } from "lucide-react";

export interface NavItem {
  href: string;
  label: string;
  icon: LucideIcon;
  /** Shown to site administrators only. */
  siteAdmin?: boolean;
}

/** The sidebar, in order. Each page adds its entry here. */
export const navItems: NavItem[] = [{ href: "/", label: "Overview", icon: LayoutDashboard }];
