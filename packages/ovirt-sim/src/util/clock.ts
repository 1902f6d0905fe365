/**
 * Time source of the simulator: epoch milliseconds for dates, token and ticket expiry and inactivity.
 * Tests pass a ManualClock to make tickets expire without waiting.
 */
export interface SimClock {
  now(): number;
}

export const systemClock: SimClock = { now: () => Date.now() };

export class ManualClock implements SimClock {
  constructor(private t = Date.now()) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
