"use client";

import type { AppRouter } from "@lifeboat/api";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import { useState } from "react";
import { toast } from "sonner";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Dialog } from "@/components/ui/dialog";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Table, Td, Th } from "@/components/ui/table";
import { useTRPC } from "@/trpc/react";

type User = inferRouterOutputs<AppRouter>["users"]["list"]["items"][number];

function TemporaryPassword({ email, password }: { email: string; password: string }) {
  return (
    <div className="space-y-3">
      <p className="text-sm text-slate-600">
        Give this temporary password to <strong>{email}</strong> over a channel you trust. It is shown only
        now; the first sign-in asks for a new password.
      </p>
      <div className="flex items-center gap-2">
        <code
          className="flex-1 rounded-md border border-slate-200 bg-slate-50 px-3 py-2 font-mono text-base"
          data-testid="temporary-password"
        >
          {password}
        </code>
        <Button
          type="button"
          variant="secondary"
          onClick={() => navigator.clipboard.writeText(password).then(() => toast.success("Copied"))}
        >
          Copy
        </Button>
      </div>
    </div>
  );
}

function CreateUser({ onDone }: { onDone: () => void }) {
  const trpc = useTRPC();
  const [result, setResult] = useState<{ email: string; password: string | null } | null>(null);
  const create = useMutation(
    trpc.users.create.mutationOptions({
      onSuccess: (r) => {
        setResult({ email: r.user.email, password: r.temporaryPassword });
        onDone();
      },
    }),
  );
  if (result)
    return result.password ? (
      <TemporaryPassword email={result.email} password={result.password} />
    ) : (
      <p className="text-sm text-slate-600">
        {result.email} can now sign in through single sign-on with that e-mail address.
      </p>
    );
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        create.mutate({
          name: String(f.get("name")),
          email: String(f.get("email")),
          siteAdmin: f.get("siteAdmin") === "on",
          password: f.get("method") === "none" ? "none" : "temporary",
        });
      }}
    >
      <div className="space-y-1.5">
        <Label htmlFor="new-name">Name</Label>
        <Input id="new-name" name="name" required autoFocus autoComplete="off" />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="new-email">E-mail</Label>
        <Input id="new-email" name="email" type="email" required autoComplete="off" />
      </div>
      <fieldset className="space-y-2">
        <legend className="text-sm font-medium text-slate-700">Sign-in</legend>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="method" value="temporary" defaultChecked /> Temporary password (changed at
          first sign-in)
        </label>
        <label className="flex items-center gap-2 text-sm">
          <input type="radio" name="method" value="none" /> Single sign-on only
        </label>
      </fieldset>
      <label className="flex items-center gap-2 text-sm">
        <input type="checkbox" name="siteAdmin" /> Site administrator (manages users, teams and engines)
      </label>
      <ErrorNote error={create.error} />
      <Button type="submit" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create account"}
      </Button>
    </form>
  );
}

function UserActions({ user, onChanged }: { user: User; onChanged: () => void }) {
  const trpc = useTRPC();
  const [reset, setReset] = useState<string | null>(null);
  const update = useMutation(
    trpc.users.update.mutationOptions({
      onSuccess: onChanged,
      onError: (e) => toast.error(e.message),
    }),
  );
  const resetPassword = useMutation(
    trpc.users.resetPassword.mutationOptions({
      onSuccess: (r) => {
        setReset(r.temporaryPassword);
        onChanged();
      },
      onError: (e) => toast.error(e.message),
    }),
  );
  return (
    <div className="flex flex-wrap gap-1">
      <Button
        size="sm"
        variant="ghost"
        disabled={resetPassword.isPending}
        onClick={() => {
          if (confirm(`Give ${user.email} a new temporary password and sign them out everywhere?`))
            resetPassword.mutate({ userId: user.id });
        }}
      >
        Reset password
      </Button>
      <Button
        size="sm"
        variant="ghost"
        disabled={update.isPending}
        onClick={() => update.mutate({ userId: user.id, siteAdmin: !user.siteAdmin })}
      >
        {user.siteAdmin ? "Remove site admin" : "Make site admin"}
      </Button>
      <Button
        size="sm"
        variant="ghost"
        disabled={update.isPending}
        onClick={() => update.mutate({ userId: user.id, disabled: !user.disabled })}
      >
        {user.disabled ? "Enable" : "Disable"}
      </Button>
      <Dialog open={reset !== null} onOpenChange={(o) => !o && setReset(null)} title="New temporary password">
        {reset ? <TemporaryPassword email={user.email} password={reset} /> : null}
      </Dialog>
    </div>
  );
}

export function UsersPage() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [search, setSearch] = useState("");
  const [creating, setCreating] = useState(false);
  const users = useQuery(trpc.users.list.queryOptions({ search: search || undefined, limit: 200 }));
  const refresh = () => queryClient.invalidateQueries({ queryKey: trpc.users.list.pathKey() });
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <PageHeader
        title="Users"
        description="Accounts that may sign in to Lifeboat. Team roles are given on each team's page."
        actions={<Button onClick={() => setCreating(true)}>New account</Button>}
      />
      <div className="max-w-sm">
        <Label htmlFor="user-search" className="sr-only">
          Search accounts
        </Label>
        <Input
          id="user-search"
          type="search"
          placeholder="Search by name or e-mail"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </div>
      <ErrorNote error={users.error} />
      {users.data && users.data.items.length === 0 ? (
        <EmptyState title={search ? "No account matches." : "No accounts yet."}>
          {search ? "Try part of the name or e-mail." : "Create the first one with New account."}
        </EmptyState>
      ) : (
        <Table caption="Accounts">
          <thead>
            <tr>
              <Th>Name</Th>
              <Th>E-mail</Th>
              <Th>Teams</Th>
              <Th>Status</Th>
              <Th>
                <span className="sr-only">Actions</span>
              </Th>
            </tr>
          </thead>
          <tbody>
            {users.data?.items.map((u) => (
              <tr key={u.id}>
                <Td className="font-medium">{u.name}</Td>
                <Td>{u.email}</Td>
                <Td>
                  {u.teams.length === 0 ? (
                    <span className="text-slate-400">none</span>
                  ) : (
                    u.teams.map((t) => `${t.name} (${t.role})`).join(", ")
                  )}
                </Td>
                <Td>
                  <div className="flex flex-wrap gap-1">
                    {u.siteAdmin ? <Badge tone="blue">site admin</Badge> : null}
                    {u.disabled ? <Badge tone="red">disabled</Badge> : null}
                    {u.mustChangePassword ? <Badge tone="amber">temporary password</Badge> : null}
                    {!u.hasPassword ? <Badge>single sign-on</Badge> : null}
                  </div>
                </Td>
                <Td>
                  <UserActions user={u} onChanged={refresh} />
                </Td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      {users.data?.hasMore ? (
        <p className="text-sm text-slate-500">Showing the first 200 accounts: search to find others.</p>
      ) : null}
      <Dialog open={creating} onOpenChange={setCreating} title="New account">
        {creating ? <CreateUser onDone={refresh} /> : null}
      </Dialog>
    </div>
  );
}
