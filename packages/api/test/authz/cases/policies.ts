import { cases, SIGNED_IN } from "../case";
import type { World } from "../world";

/** One policy per team (protecting the team's fixture VM), made on first use. */
const policies = new Map<string, string>();
async function policyOf(w: World, teamId: string): Promise<string> {
  let id = policies.get(teamId);
  if (!id) {
    const vmId = w.fixtures[teamId]?.vmId;
    if (!vmId) throw new Error(`no fixture VM in team ${teamId}`);
    const p = await w.db.policy.create({
      data: {
        teamId,
        name: w.unique("matrix policy"),
        schedule: "0 2 * * *",
        verifySchedule: "0 5 * * 0",
        vms: { create: [{ vmId }] },
      },
    });
    await freshPoint(w, teamId, p.id);
    id = p.id;
    policies.set(teamId, id);
  }
  return id;
}

/** A new complete restore point of the team's fixture VM. */
async function freshPoint(w: World, teamId: string, policyId: string | null = null, pinned = false) {
  const vmId = w.fixtures[teamId]?.vmId;
  if (!vmId) throw new Error(`no fixture VM in team ${teamId}`);
  const vm = await w.db.vm.findUniqueOrThrow({ where: { id: vmId } });
  const rp = await w.db.restorePoint.create({
    data: {
      vmId,
      engineId: vm.engineId,
      vmName: vm.name,
      state: "complete",
      ovf: "<ovf/>",
      policyId,
      pinned,
    },
  });
  return rp.id;
}

const MANAGE = ["admin", "site-admin"] as const;
const OPERATE = ["operator", "admin", "site-admin"] as const;

export default cases([
  {
    path: "policies.list",
    allow: SIGNED_IN,
    target: "team",
    otherTeam: "empty",
    call: async ({ caller, w, scope, teamId }) => {
      await policyOf(w, w.teamA);
      await policyOf(w, w.teamB);
      return caller.policies.list(scope === "own" ? {} : { teamId });
    },
    teamsIn: (r) => (r as { items: Array<{ teamId: string }> }).items.map((i) => i.teamId),
  },
  {
    path: "policies.get",
    allow: SIGNED_IN,
    target: "team",
    call: async ({ caller, w, teamId }) => caller.policies.get({ policyId: await policyOf(w, teamId) }),
    teamsIn: (r) => [(r as { policy: { teamId: string } }).policy.teamId],
  },
  {
    path: "policies.describeSchedule",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) =>
      caller.policies.describeSchedule({ schedule: "30 2 * * *", timezone: "Europe/Berlin" }),
  },
  {
    path: "policies.requestChange",
    allow: MANAGE,
    target: "team",
    call: ({ caller, w, teamId }) =>
      caller.policies.requestChange({
        teamId,
        change: {
          op: "create",
          spec: {
            name: w.unique("requested"),
            schedule: "0 3 * * *",
            vmIds: [w.fixtures[teamId]?.vmId ?? ""],
          },
        },
        reason: "matrix",
      }),
  },
  {
    path: "policies.prunePreview",
    allow: SIGNED_IN,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.policies.prunePreview({ policyId: await policyOf(w, teamId) }),
    teamsIn: async (r, w) => {
      const vmIds = (r as { vms: Array<{ vmId: string }> }).vms.map((v) => v.vmId);
      return (await w.db.vmTeam.findMany({ where: { vmId: { in: vmIds } } })).map((o) => o.teamId);
    },
  },
  {
    path: "policies.prune",
    allow: OPERATE,
    target: "team",
    call: async ({ caller, w, teamId }) => caller.policies.prune({ policyId: await policyOf(w, teamId) }),
  },
  {
    path: "policies.runNow",
    allow: OPERATE,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.policies.runNow({ policyId: await policyOf(w, teamId), kind: "verify" }),
  },
  {
    path: "policies.jobs",
    allow: SIGNED_IN,
    target: "team",
    call: async ({ caller, w, teamId }) => caller.policies.jobs({ policyId: await policyOf(w, teamId) }),
    teamsIn: async (r, w) => {
      const ids = (r as { items: Array<{ id: string }> }).items.map((j) => j.id);
      return (await w.db.job.findMany({ where: { id: { in: ids } } })).map((j) => j.teamId ?? "none");
    },
  },
  {
    path: "policies.summary",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.policies.summary(),
  },
  {
    path: "policies.pin",
    allow: OPERATE,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.policies.pin({ restorePointId: await freshPoint(w, teamId) }),
  },
  {
    path: "policies.unpin",
    allow: MANAGE,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.policies.unpin({ restorePointId: await freshPoint(w, teamId, null, true) }),
  },
  {
    path: "policies.requestPointDeletion",
    allow: OPERATE,
    target: "team",
    call: async ({ caller, w, teamId }) =>
      caller.policies.requestPointDeletion({ restorePointId: await freshPoint(w, teamId), reason: "matrix" }),
  },
]);
