"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { useMe } from "@/components/shell/use-me";
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

function CreateTeam({ onCreated }: { onCreated: (id: string) => void }) {
  const trpc = useTRPC();
  const create = useMutation(trpc.teams.create.mutationOptions({ onSuccess: (t) => onCreated(t.id) }));
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        const adminEmail = String(f.get("adminEmail") ?? "").trim();
        create.mutate({ name: String(f.get("name")), adminEmail: adminEmail || undefined });
      }}
    >
      <div className="space-y-1.5">
        <Label htmlFor="team-name">Team name</Label>
        <Input id="team-name" name="name" required autoFocus autoComplete="off" />
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="team-admin">First team admin (e-mail, optional)</Label>
        <Input
          id="team-admin"
          name="adminEmail"
          type="email"
          autoComplete="off"
          aria-describedby="team-admin-hint"
        />
        <p id="team-admin-hint" className="text-xs text-slate-500">
          Team admins add members and ask for the team's VMs.
        </p>
      </div>
      <ErrorNote error={create.error} />
      <Button type="submit" disabled={create.isPending}>
        {create.isPending ? "Creating…" : "Create team"}
      </Button>
    </form>
  );
}

export function TeamsPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const { me } = useMe();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const [creating, setCreating] = useState(false);
  const siteAdmin = me.data?.siteAdmin === true;
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <PageHeader
        title="Teams"
        description="A team owns VMs and their restore points; its members act on them in their role."
        actions={siteAdmin ? <Button onClick={() => setCreating(true)}>New team</Button> : null}
      />
      <ErrorNote error={teams.error} />
      {teams.data && teams.data.length === 0 ? (
        <EmptyState title={siteAdmin ? "No teams yet." : "You are not in a team yet."}>
          {siteAdmin
            ? "Create a team, give it an admin, and let its admin ask for its VMs."
            : "Ask a site administrator to add you to your team."}
        </EmptyState>
      ) : (
        <Table caption="Teams">
          <thead>
            <tr>
              <Th>Team</Th>
              <Th>Your role</Th>
              <Th className="text-right">Members</Th>
              <Th className="text-right">VMs</Th>
              <Th className="text-right">Open requests</Th>
            </tr>
          </thead>
          <tbody>
            {teams.data?.map((t) => (
              <tr key={t.id}>
                <Td>
                  <Link href={`/teams/${t.id}`} className="font-medium text-brand-700 hover:underline">
                    {t.name}
                  </Link>
                </Td>
                <Td>{t.role ? <Badge>{t.role}</Badge> : <span className="text-slate-400">—</span>}</Td>
                <Td className="text-right">{t.memberCount}</Td>
                <Td className="text-right">{t.vmCount}</Td>
                <Td className="text-right">{t.pendingApprovals}</Td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
      <Dialog open={creating} onOpenChange={setCreating} title="New team">
        {creating ? (
          <CreateTeam
            onCreated={(id) => {
              void queryClient.invalidateQueries({ queryKey: trpc.teams.list.queryKey() });
              setCreating(false);
              router.push(`/teams/${id}`);
            }}
          />
        ) : null}
      </Dialog>
    </div>
  );
}
