import type { EngineRecorder } from "./engine/recorder";
import type { ImageioRecorder } from "./imageio/recorder";
import type { TicketRegistry } from "./imageio/tickets";

/** What `@lifeboat/ovirt-sim/testing` reaches inside a running simulator; not part of its public API. */
export interface SimTestHooks {
  tickets: TicketRegistry;
  imageioRecorder: ImageioRecorder;
  engineRecorder: EngineRecorder;
}

const hooks = new WeakMap<object, SimTestHooks>();

export function attachTestHooks(sim: object, h: SimTestHooks): void {
  hooks.set(sim, h);
}

export function testHooksOf(sim: object): SimTestHooks {
  const h = hooks.get(sim);
  if (!h) throw new Error("not a simulator started by startSimulator()");
  return h;
}
