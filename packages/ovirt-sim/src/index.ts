export type { GuestWriteResult } from "./engine/engine";
export { type ActiveFault, type FaultHandle, FaultInjector, type FaultSpec, faultSpecSchema } from "./faults";
export { type WriteGuestDataOptions, type WriteGuestDataResult, writeGuestData } from "./guest";
export type * from "./model";
export { type SimStateView, type Simulator, type SimulatorOptions, startSimulator } from "./simulator";
export { ManualClock, type SimClock, systemClock } from "./util/clock";
