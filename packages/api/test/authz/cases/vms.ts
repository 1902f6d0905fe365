import { cases, SIGNED_IN } from "../case";
import type { World } from "../world";

// The VM inventory.
const vmTeams = async (w: World, vmIds: string[]) =>
  (await w.db.vmTeam.findMany({ where: { vmId: { in: vmIds } } })).map((t) => t.teamId);

export default cases([
  {
    path: "vms.list",
    allow: SIGNED_IN,
    target: "team",
    otherTeam: "empty",
    call: ({ caller, scope, teamId }) => caller.vms.list(scope === "own" ? {} : { teamId }),
    teamsIn: (r, w) =>
      vmTeams(
        w,
        (r as { items: Array<{ id: string }> }).items.map((v) => v.id),
      ),
  },
  {
    path: "vms.get",
    allow: SIGNED_IN,
    target: "team",
    call: ({ caller, w, teamId }) => caller.vms.get({ id: w.fixtures[teamId]?.vmId ?? "" }),
    teamsIn: (r, w) => vmTeams(w, [(r as { id: string }).id]),
  },
  {
    // Refreshing reads the engines again for everybody; the answer names engines only (no VMs).
    path: "vms.refresh",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.vms.refresh({}),
  },
]);
