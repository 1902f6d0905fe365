import { cases } from "../case";

export default cases([
  {
    path: "audit.list",
    allow: ["approver", "admin", "site-admin"],
    target: "team",
    otherTeam: "empty",
    call: ({ caller, scope, teamId }) =>
      caller.audit.list(scope === "own" ? { limit: 500 } : { teamId, limit: 500 }),
    // Rows without a team (sign-ins, site settings) are for site administrators only.
    teamsIn: (r) =>
      (r as { items: Array<{ teamId: string | null }> }).items.map((i) => i.teamId ?? "(no team)"),
  },
]);
