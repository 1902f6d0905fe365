import { catalogRestorePoint, worldVm } from "../../jobs-fixtures";
import { cases, SIGNED_IN } from "../case";
import type { World } from "../world";

// The restore-point catalog (search, filter choices) and disk image downloads.
const vmTeams = async (w: World, vmIds: string[]) =>
  (await w.db.vmTeam.findMany({ where: { vmId: { in: vmIds } } })).map((t) => t.teamId);

async function point(w: World, teamId: string) {
  return catalogRestorePoint(w.db, await worldVm(w, teamId, w.engineId));
}

const DOWNLOADERS = ["operator", "admin", "site-admin"] as const;

export default cases([
  {
    path: "restorePoints.search",
    allow: SIGNED_IN,
    target: "team",
    otherTeam: "empty",
    call: async ({ caller, w, scope, teamId }) => {
      await point(w, teamId);
      return caller.restorePoints.search(scope === "own" ? {} : { teamId });
    },
    teamsIn: (r, w) =>
      vmTeams(
        w,
        (r as { items: Array<{ vmId: string }> }).items.map((i) => i.vmId),
      ),
  },
  {
    path: "restorePoints.facets",
    allow: SIGNED_IN,
    target: "global",
    call: async ({ caller, w, teamId }) => {
      await point(w, teamId);
      return caller.restorePoints.facets();
    },
    teamsIn: (r, w) =>
      vmTeams(
        w,
        (r as { vms: Array<{ id: string }> }).vms.map((v) => v.id),
      ),
  },
  {
    path: "restorePoints.downloadAccess",
    allow: DOWNLOADERS,
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const rp = await point(w, teamId);
      return caller.restorePoints.downloadAccess({ restorePointId: rp.id, diskId: rp.diskId });
    },
    teamsIn: (r) => [(r as { teamId: string | null }).teamId ?? "(none)"],
  },
  {
    path: "restorePoints.requestDownload",
    allow: DOWNLOADERS,
    target: "team",
    call: async ({ caller, w, teamId }) => {
      const rp = await point(w, teamId);
      return caller.restorePoints.requestDownload({
        restorePointId: rp.id,
        diskId: rp.diskId,
        reason: "matrix",
      });
    },
  },
]);
