import { worldVm } from "../../jobs-fixtures";
import { cases } from "../case";

export default cases([
  {
    path: "backups.start",
    allow: ["operator", "admin", "site-admin"],
    target: "team",
    // A fresh VM per call: a VM has at most one backup queued at a time.
    call: async ({ caller, w, teamId }) =>
      caller.backups.start({ vmId: (await worldVm(w, teamId, w.engineId)).id }),
    teamsIn: async (r, w) => {
      const job = await w.db.job.findUniqueOrThrow({ where: { id: (r as { jobId: string }).jobId } });
      return [job.teamId ?? ""];
    },
  },
]);
