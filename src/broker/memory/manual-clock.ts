import type { Clock } from '../ports.ts';

/** A clock that moves only when told: for tests and simulations. */
export class ManualClock implements Clock {
  private time: number;

  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  advance(ms: number): void {
    this.time += ms;
  }
}
