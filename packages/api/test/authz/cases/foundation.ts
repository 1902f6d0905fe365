import { cases, SIGNED_IN } from "../case";
import { ROLES } from "../world";

// Procedures of the foundation (system, me, overview, jobs).
export default cases([
  { path: "system.health", allow: ROLES, target: "global", call: ({ caller }) => caller.system.health() },
  {
    path: "system.ping",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller }) => caller.system.ping({ message: "matrix" }),
  },
  {
    path: "system.services",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller }) => caller.system.services(),
  },
  { path: "me.get", allow: SIGNED_IN, target: "global", call: ({ caller }) => caller.me.get() },
  {
    path: "overview.summary",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.overview.summary(),
  },
  {
    path: "jobs.get",
    allow: SIGNED_IN,
    target: "team",
    call: ({ caller, w, teamId }) => caller.jobs.get({ id: w.fixtures[teamId]?.jobId ?? "" }),
  },
]);
