import { cases } from "../case";

type UserList = { items: Array<{ teams: Array<{ id: string }> }> };

export default cases([
  {
    path: "users.list",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller }) => caller.users.list({}),
    // Site administrators see every account (and so every team).
    teamsIn: (r) => (r as UserList).items.flatMap((u) => u.teams.map((t) => t.id)),
  },
  {
    path: "users.create",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller, w }) =>
      caller.users.create({ email: `${w.unique("new")}@authz.test`, name: "New person" }),
  },
  {
    path: "users.update",
    allow: ["site-admin"],
    target: "global",
    call: async ({ caller, w }) => caller.users.update({ userId: (await w.freshUser()).id, name: "Renamed" }),
  },
  {
    path: "users.resetPassword",
    allow: ["site-admin"],
    target: "global",
    call: async ({ caller, w }) => caller.users.resetPassword({ userId: (await w.freshUser()).id }),
  },
]);
