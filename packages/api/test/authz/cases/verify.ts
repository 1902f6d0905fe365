import { catalogRestorePoint, worldVm } from "../../jobs-fixtures";
import { cases } from "../case";

export default cases([
  {
    path: "verify.start",
    // An operation on the repository (see routers/verify/start.ts): those who may back up.
    allow: ["operator", "admin", "site-admin"],
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const rp = await catalogRestorePoint(w.db, await worldVm(w, teamId, w.engineId));
      return caller.verify.start({ restorePointId: rp.id });
    },
    teamsIn: async (r, w) => {
      const job = await w.db.job.findUniqueOrThrow({ where: { id: (r as { jobId: string }).jobId } });
      return [job.teamId ?? ""];
    },
  },
]);
