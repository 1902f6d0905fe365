import { cases, SIGNED_IN } from "../case";

// Live updates: the subscription opens for anyone signed in (what it delivers is scoped: test/events.test.ts).
export default cases([
  {
    path: "events.subscribe",
    allow: SIGNED_IN,
    target: "global",
    // The stream is not read here: the guard has already decided when the call resolves.
    call: ({ caller }) => caller.events.subscribe(),
  },
]);
