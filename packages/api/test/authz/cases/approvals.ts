import { cases, SIGNED_IN } from "../case";

type ApprovalList = { items: Array<{ teamId: string }> };

export default cases([
  {
    path: "approvals.list",
    allow: SIGNED_IN,
    target: "team",
    otherTeam: "empty",
    // Own scope: everything the caller may see; other scope: filtered to team B, which must stay empty.
    call: ({ caller, scope, teamId }) =>
      caller.approvals.list(scope === "own" ? { view: "team" } : { view: "team", teamId }),
    teamsIn: (r) => (r as ApprovalList).items.map((i) => i.teamId),
  },
  {
    path: "approvals.get",
    allow: SIGNED_IN,
    target: "team",
    call: async ({ caller, w, teamId }) => caller.approvals.get({ id: await w.pendingRequest(teamId) }),
    teamsIn: (r) => [(r as { teamId: string }).teamId],
  },
  {
    path: "approvals.counts",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.approvals.counts(),
  },
  {
    path: "approvals.approve",
    // A decision needs the approver role through a membership: site administration alone is not enough.
    allow: ["approver", "admin"],
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.approvals.approve({ id: await w.pendingRequest(teamId), comment: "matrix approves" }),
  },
  {
    path: "approvals.reject",
    allow: ["approver", "admin"],
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.approvals.reject({ id: await w.pendingRequest(teamId), comment: "matrix rejects" }),
  },
  {
    path: "approvals.cancel",
    allow: SIGNED_IN,
    target: "team",
    // The caller's own request (site admins may ask in any team); team B's peer's request for members of A.
    call: async ({ caller, w, role, scope, teamId }) => {
      const own = role !== "anonymous" && (scope === "own" || role === "site-admin");
      const by = own ? w.user(role) : undefined;
      return caller.approvals.cancel({ id: await w.pendingRequest(teamId, by) });
    },
  },
]);
