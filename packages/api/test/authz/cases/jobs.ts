import { cases, SIGNED_IN } from "../case";

type JobList = { items: Array<{ teamId: string | null }> };

export default cases([
  {
    path: "jobs.list",
    allow: SIGNED_IN,
    target: "team",
    otherTeam: "empty",
    // Own scope: everything the caller may see; other scope: filtered to team B, which must stay empty.
    call: ({ caller, scope, teamId }) => caller.jobs.list(scope === "own" ? {} : { teamId }),
    teamsIn: (r) => (r as JobList).items.map((j) => j.teamId ?? "(site)"),
  },
  {
    path: "jobs.events",
    allow: SIGNED_IN,
    target: "team",
    call: ({ caller, w, teamId }) => caller.jobs.events({ id: w.fixtures[teamId]?.jobId ?? "" }),
  },
  {
    path: "jobs.cancel",
    allow: ["operator", "admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const job = await w.db.job.create({ data: { type: "system.echo", teamId, input: { message: "m" } } });
      return caller.jobs.cancel({ id: job.id });
    },
    teamsIn: (r) => [(r as { teamId: string }).teamId],
  },
]);
