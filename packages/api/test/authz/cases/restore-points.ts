import { catalogRestorePoint, worldVm } from "../../jobs-fixtures";
import { cases, SIGNED_IN } from "../case";

export default cases([
  {
    path: "restorePoints.get",
    allow: SIGNED_IN,
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const rp = await catalogRestorePoint(w.db, await worldVm(w, teamId, w.engineId));
      return caller.restorePoints.get({ id: rp.id });
    },
    teamsIn: async (r, w) =>
      (await w.db.vmTeam.findMany({ where: { vmId: (r as { vmId: string }).vmId } })).map((t) => t.teamId),
  },
]);
