import type { Clock } from '../ports.ts';

/** A clock that moves only when told: for tests and simulations. */
export class ManualClock implements Clock {
  constructor(private time = 1_700_000_000_000) {}

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
