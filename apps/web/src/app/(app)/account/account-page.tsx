"use client";

import { useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { toast } from "sonner";
import { useMe } from "@/components/shell/use-me";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { authClient } from "@/lib/auth-client";
import { useTRPC } from "@/trpc/react";

const MIN_LENGTH = 10;

function passwordError(error: { status: number; code?: string; message?: string }): string {
  if (error.status === 429) return "Too many attempts. Wait a few seconds and try again.";
  if (error.code === "INVALID_PASSWORD") return "The current password is not right.";
  if (error.code === "PASSWORD_TOO_SHORT") return `The new password needs at least ${MIN_LENGTH} characters.`;
  if (error.code === "PASSWORD_TOO_WEAK") return `Choose a stronger password. ${error.message ?? ""}`.trim();
  if (error.code === "CREDENTIAL_ACCOUNT_NOT_FOUND")
    return "This account signs in through single sign-on and has no Lifeboat password.";
  return error.message ?? "The password could not be changed.";
}

export function AccountPage() {
  const { me } = useMe();
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);
  const must = me.data?.mustChangePassword === true;

  async function onSubmit(e: React.FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const formEl = e.currentTarget;
    const form = new FormData(formEl);
    const currentPassword = String(form.get("currentPassword"));
    const newPassword = String(form.get("newPassword"));
    setError(null);
    if (newPassword.length < MIN_LENGTH)
      return setError(`The new password needs at least ${MIN_LENGTH} characters.`);
    if (newPassword !== String(form.get("confirmPassword"))) return setError("The two new passwords differ.");
    if (newPassword === currentPassword)
      return setError("Choose a new password that differs from the current one.");
    setPending(true);
    const res = await authClient.changePassword({ currentPassword, newPassword, revokeOtherSessions: true });
    setPending(false);
    if (res.error) return setError(passwordError(res.error));
    formEl.reset();
    toast.success("Password changed. Your other sessions were signed out.");
    await queryClient.invalidateQueries({ queryKey: trpc.me.get.queryKey() });
    if (must) router.replace("/");
  }

  return (
    <div className="mx-auto max-w-3xl space-y-6">
      <PageHeader title="Your account" description="Your sign-in, your password and your roles." />
      {must ? (
        <p
          role="alert"
          className="rounded-md border border-amber-200 bg-amber-50 px-4 py-3 text-sm text-amber-900"
        >
          You signed in with a temporary password. Choose your own password to continue using Lifeboat.
        </p>
      ) : null}
      <Card>
        <CardHeader>
          <CardTitle>Profile</CardTitle>
        </CardHeader>
        <CardContent>
          {me.data ? (
            <dl className="grid gap-3 text-sm sm:grid-cols-[10rem_1fr]">
              <dt className="text-slate-500">Name</dt>
              <dd>{me.data.name}</dd>
              <dt className="text-slate-500">E-mail</dt>
              <dd>{me.data.email}</dd>
              <dt className="text-slate-500">Site role</dt>
              <dd>{me.data.siteAdmin ? <Badge tone="blue">Site administrator</Badge> : "User"}</dd>
              <dt className="text-slate-500">Teams</dt>
              <dd>
                {me.data.teams.length === 0 ? (
                  <span className="text-slate-500">
                    No team yet: ask a site administrator to add you to one.
                  </span>
                ) : (
                  <ul className="flex flex-wrap gap-2">
                    {me.data.teams.map((t) => (
                      <li key={t.id}>
                        <Badge>
                          {t.name} · {t.role}
                        </Badge>
                      </li>
                    ))}
                  </ul>
                )}
              </dd>
            </dl>
          ) : (
            <p className="text-sm text-slate-500">Loading…</p>
          )}
          <p className="mt-4 text-xs text-slate-500">
            Names and e-mails are managed by your site administrators.
          </p>
        </CardContent>
      </Card>
      <Card>
        <CardHeader>
          <CardTitle>Change password</CardTitle>
        </CardHeader>
        <CardContent>
          <form
            onSubmit={onSubmit}
            className="max-w-sm space-y-4"
            aria-describedby={error ? "password-error" : undefined}
          >
            <div className="space-y-1.5">
              <Label htmlFor="currentPassword">{must ? "Temporary password" : "Current password"}</Label>
              <Input
                id="currentPassword"
                name="currentPassword"
                type="password"
                autoComplete="current-password"
                required
                autoFocus={must}
              />
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="newPassword">New password</Label>
              <Input
                id="newPassword"
                name="newPassword"
                type="password"
                autoComplete="new-password"
                required
                aria-describedby="newPassword-hint"
              />
              <p id="newPassword-hint" className="text-xs text-slate-500">
                At least {MIN_LENGTH} characters, and not easy to guess: a few uncommon words beat a common
                word with digits.
              </p>
            </div>
            <div className="space-y-1.5">
              <Label htmlFor="confirmPassword">New password again</Label>
              <Input
                id="confirmPassword"
                name="confirmPassword"
                type="password"
                autoComplete="new-password"
                required
              />
            </div>
            <ErrorNote id="password-error" error={error} />
            <Button type="submit" disabled={pending}>
              {pending ? "Changing…" : "Change password"}
            </Button>
          </form>
        </CardContent>
      </Card>
    </div>
  );
}
