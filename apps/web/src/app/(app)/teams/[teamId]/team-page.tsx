"use client";

import type { AppRouter } from "@lifeboat/api";
import { TEAM_ROLES } from "@lifeboat/domain/permissions";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { inferRouterOutputs } from "@trpc/server";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";
import { toast } from "sonner";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardHeader, CardTitle } from "@/components/ui/card";
import { Dialog } from "@/components/ui/dialog";
import { EmptyState } from "@/components/ui/empty-state";
import { ErrorNote } from "@/components/ui/error-note";
import { Input } from "@/components/ui/input";
import { Label } from "@/components/ui/label";
import { PageHeader } from "@/components/ui/page-header";
import { Select } from "@/components/ui/select";
import { Table, Td, Th } from "@/components/ui/table";
import { Textarea } from "@/components/ui/textarea";
import { formatDateTime } from "@/lib/format";
import { useTRPC } from "@/trpc/react";

type Team = inferRouterOutputs<AppRouter>["teams"]["get"];

const ROLE_WORDS: Record<(typeof TEAM_ROLES)[number], string> = {
  viewer: "sees the team's VMs and restore points",
  operator: "backs up, requests restores, downloads images",
  approver: "decides the team's requests",
  admin: "manages members and asks for VMs",
};

function useInvalidateTeam() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: trpc.teams.pathKey() }),
      queryClient.invalidateQueries({ queryKey: trpc.approvals.pathKey() }),
    ]);
}

function Members({ team }: { team: Team }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateTeam();
  const onError = (e: { message: string }) => toast.error(e.message);
  const add = useMutation(trpc.teams.addMember.mutationOptions({ onSuccess: () => invalidate() }));
  const setRole = useMutation(
    trpc.teams.setMemberRole.mutationOptions({ onSuccess: () => invalidate(), onError }),
  );
  const remove = useMutation(
    trpc.teams.removeMember.mutationOptions({ onSuccess: () => invalidate(), onError }),
  );
  const teamId = team.team.id;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Members</CardTitle>
      </CardHeader>
      <CardContent className="space-y-4">
        {team.members.length === 0 ? (
          <EmptyState title="No members yet.">Add the people who work with this team's VMs.</EmptyState>
        ) : (
          <Table caption="Members">
            <thead>
              <tr>
                <Th>Name</Th>
                <Th>E-mail</Th>
                <Th>Role</Th>
                <Th>Role given by</Th>
                {team.canManage ? (
                  <Th>
                    <span className="sr-only">Actions</span>
                  </Th>
                ) : null}
              </tr>
            </thead>
            <tbody>
              {team.members.map((m) => (
                <tr key={m.userId}>
                  <Td className="font-medium">
                    {m.name} {m.disabled ? <Badge tone="red">disabled</Badge> : null}
                  </Td>
                  <Td>{m.email}</Td>
                  <Td>
                    {team.canManage ? (
                      <Select
                        aria-label={`Role of ${m.name}`}
                        value={m.role}
                        disabled={setRole.isPending}
                        onChange={(e) =>
                          setRole.mutate({
                            teamId,
                            userId: m.userId,
                            role: e.target.value as (typeof TEAM_ROLES)[number],
                          })
                        }
                        className="w-36"
                      >
                        {TEAM_ROLES.map((r) => (
                          <option key={r} value={r}>
                            {r}
                          </option>
                        ))}
                      </Select>
                    ) : (
                      <Badge>{m.role}</Badge>
                    )}
                  </Td>
                  {/* Approvers check who appointed whom: a role the requester gave does not count. */}
                  <Td>
                    {m.grantedBy ? `${m.grantedBy.name} <${m.grantedBy.email}>` : "—"}
                    {m.grantedAt ? (
                      <span className="block text-xs text-slate-500">{formatDateTime(m.grantedAt)}</span>
                    ) : null}
                  </Td>
                  {team.canManage ? (
                    <Td>
                      <Button
                        size="sm"
                        variant="ghost"
                        disabled={remove.isPending}
                        onClick={() => {
                          if (confirm(`Remove ${m.name} <${m.email}> from ${team.team.name}?`))
                            remove.mutate({ teamId, userId: m.userId });
                        }}
                      >
                        Remove
                      </Button>
                    </Td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </Table>
        )}
        {team.canManage ? (
          <form
            className="flex flex-wrap items-end gap-3"
            onSubmit={(e) => {
              e.preventDefault();
              const formEl = e.currentTarget;
              const f = new FormData(formEl);
              add.mutate(
                {
                  teamId,
                  email: String(f.get("email")),
                  role: String(f.get("role")) as (typeof TEAM_ROLES)[number],
                },
                { onSuccess: () => formEl.reset() },
              );
            }}
          >
            <div className="min-w-60 flex-1 space-y-1.5">
              <Label htmlFor="member-email">Add a member by e-mail</Label>
              <Input id="member-email" name="email" type="email" required autoComplete="off" />
            </div>
            <div className="w-44 space-y-1.5">
              <Label htmlFor="member-role">Role</Label>
              <Select id="member-role" name="role" defaultValue="viewer">
                {TEAM_ROLES.map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </Select>
            </div>
            <Button type="submit" disabled={add.isPending}>
              Add member
            </Button>
            <div className="w-full">
              <ErrorNote error={add.error} />
            </div>
          </form>
        ) : null}
        <ul className="grid gap-1 text-xs text-slate-500 sm:grid-cols-2">
          {TEAM_ROLES.map((r) => (
            <li key={r}>
              <strong className="text-slate-600">{r}</strong>: {ROLE_WORDS[r]}
            </li>
          ))}
        </ul>
      </CardContent>
    </Card>
  );
}

function RuleRequest({ team, onSent }: { team: Team; onSent: () => void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateTeam();
  const [kind, setKind] = useState<"name-pattern" | "tag" | "vm">("name-pattern");
  const request = useMutation(
    trpc.teams.requestVmRuleChange.mutationOptions({
      onSuccess: (r) => {
        toast.success("Sent for approval", { description: r.summary });
        void invalidate();
        onSent();
      },
    }),
  );
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        const engineId = String(f.get("engineId") ?? "") || null;
        const value = String(f.get("value") ?? "").trim();
        const rule =
          kind === "vm"
            ? { kind, engineId: engineId ?? "", vmId: value }
            : kind === "tag"
              ? { kind, engineId, tag: value }
              : { kind, engineId, pattern: value };
        request.mutate({
          teamId: team.team.id,
          change: { op: "add", rule },
          reason: String(f.get("reason") ?? ""),
        });
      }}
    >
      <div className="space-y-1.5">
        <Label htmlFor="rule-kind">The team gets</Label>
        <Select id="rule-kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
          <option value="name-pattern">VMs whose name matches a pattern</option>
          <option value="tag">VMs with an oVirt tag</option>
          <option value="vm">One VM, by its oVirt id</option>
        </Select>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="rule-engine">Engine</Label>
        <Select id="rule-engine" name="engineId" defaultValue="" required={kind === "vm"}>
          {kind === "vm" ? (
            <option value="">Choose an engine</option>
          ) : (
            <option value="">Every engine</option>
          )}
          {team.engines.map((e) => (
            <option key={e.id} value={e.id}>
              {e.name}
            </option>
          ))}
        </Select>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="rule-value">
          {kind === "vm" ? "oVirt VM id" : kind === "tag" ? "Tag name (exact)" : "Name pattern"}
        </Label>
        <Input id="rule-value" name="value" required autoComplete="off" aria-describedby="rule-value-hint" />
        <p id="rule-value-hint" className="text-xs text-slate-500">
          {kind === "name-pattern"
            ? "* stands for any characters; case does not matter (e.g. web-*)."
            : kind === "tag"
              ? "Every VM carrying this tag on the engine."
              : "The id shown in the oVirt administration portal."}
        </p>
      </div>
      <div className="space-y-1.5">
        <Label htmlFor="rule-reason">Why (the approver reads this)</Label>
        <Textarea id="rule-reason" name="reason" required />
      </div>
      <ErrorNote error={request.error} />
      <p className="text-xs text-slate-500">
        Nothing changes until another approver of {team.team.name} approves the request.
      </p>
      <Button type="submit" disabled={request.isPending}>
        {request.isPending ? "Sending…" : "Ask for approval"}
      </Button>
    </form>
  );
}

function RemoveRule({ team, ruleId, onSent }: { team: Team; ruleId: string; onSent: () => void }) {
  const trpc = useTRPC();
  const invalidate = useInvalidateTeam();
  const request = useMutation(
    trpc.teams.requestVmRuleChange.mutationOptions({
      onSuccess: (r) => {
        toast.success("Sent for approval", { description: r.summary });
        void invalidate();
        onSent();
      },
    }),
  );
  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault();
        const f = new FormData(e.currentTarget);
        request.mutate({
          teamId: team.team.id,
          change: { op: "remove", ruleId },
          reason: String(f.get("reason")),
        });
      }}
    >
      <div className="space-y-1.5">
        <Label htmlFor="remove-reason">Why (the approver reads this)</Label>
        <Textarea id="remove-reason" name="reason" required autoFocus />
      </div>
      <ErrorNote error={request.error} />
      <Button type="submit" variant="danger" disabled={request.isPending}>
        Ask for approval
      </Button>
    </form>
  );
}

function VmRules({ team }: { team: Team }) {
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<string | null>(null);
  return (
    <Card>
      <CardHeader className="flex items-center justify-between">
        <CardTitle>How the team owns VMs</CardTitle>
        {team.canManage ? (
          <Button size="sm" variant="secondary" onClick={() => setAdding(true)}>
            Ask for VMs
          </Button>
        ) : null}
      </CardHeader>
      <CardContent className="space-y-3">
        {team.rules.length === 0 ? (
          <EmptyState title="This team owns no VMs yet.">
            {team.canManage
              ? "Ask for VMs by name pattern, oVirt tag or VM id; an approver of the team confirms."
              : "A team admin asks for them; an approver confirms."}
          </EmptyState>
        ) : (
          <ul className="divide-y divide-slate-100" aria-label="VM rules">
            {team.rules.map((r) => (
              <li key={r.id} className="flex items-center justify-between gap-3 py-2 text-sm">
                <span>{r.description}</span>
                {team.canManage ? (
                  <Button size="sm" variant="ghost" onClick={() => setRemoving(r.id)}>
                    Ask to remove
                  </Button>
                ) : null}
              </li>
            ))}
          </ul>
        )}
        <p className="text-xs text-slate-500">
          Changes wait in <Link href="/approvals">Approvals</Link> for another approver of the team.
        </p>
      </CardContent>
      <Dialog
        open={adding}
        onOpenChange={setAdding}
        title="Ask for VMs"
        description="A second person approves it."
      >
        {adding ? <RuleRequest team={team} onSent={() => setAdding(false)} /> : null}
      </Dialog>
      <Dialog
        open={removing !== null}
        onOpenChange={(o) => !o && setRemoving(null)}
        title="Ask to remove this rule"
        description="The team loses the VMs only this rule gave it, once approved."
      >
        {removing ? <RemoveRule team={team} ruleId={removing} onSent={() => setRemoving(null)} /> : null}
      </Dialog>
    </Card>
  );
}

function Vms({ teamId }: { teamId: string }) {
  const trpc = useTRPC();
  const [search, setSearch] = useState("");
  const vms = useQuery(trpc.teams.vms.queryOptions({ teamId, search: search || undefined, limit: 100 }));
  return (
    <Card>
      <CardHeader>
        <CardTitle>VMs of the team</CardTitle>
      </CardHeader>
      <CardContent className="space-y-3">
        <div className="max-w-xs">
          <Label htmlFor="vm-search" className="sr-only">
            Search VMs
          </Label>
          <Input
            id="vm-search"
            type="search"
            placeholder="Search by name"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </div>
        <ErrorNote error={vms.error} />
        {vms.data && vms.data.items.length === 0 ? (
          <p className="text-sm text-slate-500">
            {search ? "No VM of the team matches." : "No VM matches the team's rules in the inventory yet."}
          </p>
        ) : (
          <Table caption="VMs of the team">
            <thead>
              <tr>
                <Th>Name</Th>
                <Th>Engine</Th>
                <Th>Tags</Th>
                <Th>Status</Th>
              </tr>
            </thead>
            <tbody>
              {vms.data?.items.map((v) => (
                <tr key={v.id}>
                  <Td className="font-medium">{v.name}</Td>
                  <Td>{v.engineName}</Td>
                  <Td>{v.tags.join(", ")}</Td>
                  <Td>{v.gone ? <Badge tone="amber">no longer on the engine</Badge> : (v.status ?? "—")}</Td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
        {vms.data?.hasMore ? (
          <p className="text-xs text-slate-500">Showing the first 100: search to narrow.</p>
        ) : null}
      </CardContent>
    </Card>
  );
}

function Settings({ team }: { team: Team }) {
  const trpc = useTRPC();
  const router = useRouter();
  const invalidate = useInvalidateTeam();
  const update = useMutation(
    trpc.teams.update.mutationOptions({
      onSuccess: () => {
        toast.success("Team settings saved");
        void invalidate();
      },
    }),
  );
  const remove = useMutation(
    trpc.teams.delete.mutationOptions({
      onSuccess: () => {
        void invalidate();
        router.replace("/teams");
      },
    }),
  );
  const [confirmName, setConfirmName] = useState("");
  const s = team.team;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Settings (site administrators)</CardTitle>
      </CardHeader>
      <CardContent className="space-y-6">
        <form
          className="space-y-4"
          onSubmit={(e) => {
            e.preventDefault();
            const f = new FormData(e.currentTarget);
            update.mutate({
              teamId: s.id,
              name: String(f.get("name")),
              requireApprovalForRestores: f.get("restores") === "on",
              requireApprovalForDownloads: f.get("downloads") === "on",
              approvalTtlHours: Number(f.get("ttl")),
            });
          }}
        >
          <div className="max-w-sm space-y-1.5">
            <Label htmlFor="settings-name">Name</Label>
            <Input id="settings-name" name="name" defaultValue={s.name} required />
          </div>
          <fieldset className="space-y-2">
            <legend className="text-sm font-medium text-slate-700">Four-eyes approval</legend>
            <p className="text-xs text-slate-500">
              Restores over an existing VM, restore-point deletions, policy and VM assignment changes always
              need approval.
            </p>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" name="restores" defaultChecked={s.requireApprovalForRestores} /> Every
              restore needs approval
            </label>
            <label className="flex items-center gap-2 text-sm">
              <input type="checkbox" name="downloads" defaultChecked={s.requireApprovalForDownloads} /> Every
              disk image download needs approval
            </label>
          </fieldset>
          <div className="max-w-40 space-y-1.5">
            <Label htmlFor="settings-ttl">Requests expire after (hours)</Label>
            <Input
              id="settings-ttl"
              name="ttl"
              type="number"
              min={1}
              max={720}
              defaultValue={s.approvalTtlHours}
              required
            />
          </div>
          <ErrorNote error={update.error} />
          <Button type="submit" disabled={update.isPending}>
            Save settings
          </Button>
        </form>
        <form
          className="space-y-2 border-t border-slate-100 pt-4"
          onSubmit={(e) => {
            e.preventDefault();
            remove.mutate({ teamId: s.id, confirmName });
          }}
        >
          <Label htmlFor="delete-confirm">Delete the team: type its name ({s.name})</Label>
          <div className="flex max-w-md gap-2">
            <Input
              id="delete-confirm"
              value={confirmName}
              onChange={(e) => setConfirmName(e.target.value)}
              autoComplete="off"
            />
            <Button type="submit" variant="danger" disabled={confirmName !== s.name || remove.isPending}>
              Delete
            </Button>
          </div>
          <p className="text-xs text-slate-500">
            Members lose access to its VMs and restore points; the audit log keeps its history.
          </p>
          <ErrorNote error={remove.error} />
        </form>
      </CardContent>
    </Card>
  );
}

export function TeamPage({ teamId }: { teamId: string }) {
  const trpc = useTRPC();
  const team = useQuery(trpc.teams.get.queryOptions({ teamId }));
  if (team.error)
    return (
      <div className="mx-auto max-w-3xl space-y-4">
        <PageHeader title="Team" />
        <ErrorNote error={team.error} />
        <Link href="/teams" className="text-sm text-brand-700 hover:underline">
          Back to teams
        </Link>
      </div>
    );
  if (!team.data) return <p className="text-sm text-slate-500">Loading…</p>;
  const t = team.data;
  return (
    <div className="mx-auto max-w-6xl space-y-6">
      <PageHeader
        title={t.team.name}
        description={
          <>
            {t.myRole ? `You are ${t.myRole} of this team.` : "You are not a member of this team."}{" "}
            {t.vmCount} VM
            {t.vmCount === 1 ? "" : "s"}.
          </>
        }
      />
      <Members team={t} />
      <VmRules team={t} />
      <Vms teamId={teamId} />
      {t.canAdminister ? <Settings team={t} /> : null}
    </div>
  );
}
