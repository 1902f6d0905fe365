import { cases, SIGNED_IN } from "../case";

export default cases([
  {
    path: "notifications.list",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.notifications.list({}),
  },
  {
    path: "notifications.unreadCount",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.notifications.unreadCount(),
  },
  {
    path: "notifications.markRead",
    allow: SIGNED_IN,
    target: "global",
    call: ({ caller }) => caller.notifications.markRead({}),
  },
]);
