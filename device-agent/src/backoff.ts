// Reconnect delays: exponential from `base` up to `cap`, with "equal jitter" (half fixed,
// half random) so a fleet of boards that lost the edge together does not return in lockstep.
export interface BackoffOptions {
  /** First delay, ms. */
  base: number;
  /** Largest delay, ms. */
  cap: number;
  random?: () => number;
}

export class Backoff {
  attempt = 0;
  private readonly random: () => number;

  constructor(readonly options: BackoffOptions) {
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt, growing with each call until reset(). */
  next(): number {
    const ceiling = Math.min(this.options.cap, this.options.base * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  reset(): void {
    this.attempt = 0;
  }
}
