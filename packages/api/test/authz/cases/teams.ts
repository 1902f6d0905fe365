import { cases, SIGNED_IN } from "../case";

export default cases([
  {
    path: "teams.list",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.teams.list(),
    teamsIn: (r) => (r as Array<{ id: string }>).map((t) => t.id),
  },
  {
    path: "teams.get",
    allow: SIGNED_IN,
    target: "team",
    call: ({ caller, teamId }) => caller.teams.get({ teamId }),
    teamsIn: (r) => [(r as { team: { id: string } }).team.id],
  },
  {
    path: "teams.vms",
    allow: SIGNED_IN,
    target: "team",
    call: ({ caller, teamId }) => caller.teams.vms({ teamId }),
    teamsIn: async (r, w) => {
      const ids = (r as { items: Array<{ id: string }> }).items.map((v) => v.id);
      const owners = await w.db.vmTeam.findMany({ where: { vmId: { in: ids } } });
      return owners.map((o) => o.teamId);
    },
  },
  {
    path: "teams.create",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller, w }) => caller.teams.create({ name: w.unique("Created") }),
  },
  {
    path: "teams.update",
    allow: ["site-admin"],
    target: "team",
    call: async ({ caller, w, role, scope }) =>
      caller.teams.update({ teamId: await w.freshTeam(role, scope), approvalTtlHours: 24 }),
  },
  {
    path: "teams.delete",
    allow: ["site-admin"],
    target: "team",
    call: async ({ caller, w, role, scope }) => {
      const teamId = await w.freshTeam(role, scope);
      const team = await w.db.team.findUniqueOrThrow({ where: { id: teamId } });
      return caller.teams.delete({ teamId, confirmName: team.name });
    },
  },
  {
    path: "teams.addMember",
    allow: ["admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, role, scope }) => {
      const teamId = await w.freshTeam(role, scope);
      return caller.teams.addMember({ teamId, email: (await w.freshUser()).email, role: "viewer" });
    },
  },
  {
    path: "teams.setMemberRole",
    allow: ["admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, role, scope }) => {
      const other = await w.freshUser();
      const teamId = await w.freshTeam(role, scope, { email: other.email, role: "viewer" });
      return caller.teams.setMemberRole({ teamId, userId: other.id, role: "operator" });
    },
  },
  {
    path: "teams.removeMember",
    allow: ["admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, role, scope }) => {
      const other = await w.freshUser();
      const teamId = await w.freshTeam(role, scope, { email: other.email, role: "viewer" });
      return caller.teams.removeMember({ teamId, userId: other.id });
    },
  },
  {
    path: "teams.requestVmRuleChange",
    allow: ["admin", "site-admin"],
    target: "team",
    call: ({ caller, w, teamId }) =>
      caller.teams.requestVmRuleChange({
        teamId,
        change: { op: "add", rule: { kind: "tag", tag: w.unique("tag") } },
        reason: "matrix",
      }),
  },
]);
