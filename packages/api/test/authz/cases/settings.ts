import { cases } from "../case";

// Settings → Repository (site administrators).
export default cases([
  {
    path: "settings.repository",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller }) => caller.settings.repository(),
  },
  {
    path: "settings.measureRepository",
    allow: ["site-admin"],
    target: "global",
    call: ({ caller }) => caller.settings.measureRepository(),
  },
]);
