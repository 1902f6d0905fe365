import { cases, SIGNED_IN } from "../case";
import type { World } from "../world";

// The overview's attention list: leftovers of jobs (overview.summary is with the foundation's cases).
async function leftover(w: World, teamId: string) {
  const jobId = w.fixtures[teamId]?.jobId ?? "";
  return w.db.leftover.create({
    data: {
      jobId,
      engineId: w.engineId,
      kind: "snapshot",
      objectId: w.unique("snap"),
      description: "matrix",
    },
  });
}

export default cases([
  {
    path: "overview.leftovers",
    allow: SIGNED_IN,
    target: "global",
    call: async ({ caller, w, teamId }) => {
      await leftover(w, teamId);
      return caller.overview.leftovers({});
    },
    teamsIn: async (r, w) => {
      const jobs = await w.db.job.findMany({
        where: { id: { in: (r as Array<{ jobId: string }>).map((l) => l.jobId) } },
        select: { teamId: true },
      });
      return jobs.map((j) => j.teamId ?? "(site)");
    },
  },
  {
    path: "overview.resolveLeftover",
    allow: ["operator", "admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.overview.resolveLeftover({ id: (await leftover(w, teamId)).id }),
  },
]);
