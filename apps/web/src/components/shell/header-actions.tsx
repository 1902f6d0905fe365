"use client";

import { NotificationBell } from "./notification-bell";
import { PasswordGate } from "./password-gate";
import { UserMenu } from "./user-menu";

/** The right side of the header: notifications and the account menu (and the first-sign-in password gate). */
export function HeaderActions({ name, email }: { name: string; email: string }) {
  return (
    <div className="flex items-center gap-2">
      <PasswordGate />
      <NotificationBell />
      <UserMenu name={name} email={email} />
    </div>
  );
}
