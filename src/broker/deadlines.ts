// Deadlines of calls between objects on one timer. On workerd a timer costs about as much as a
// batched call's own work (setTimeout and clearTimeout, some 40 µs a call, 3 % of a sharded
// gateway's time at 100 messages a call), so calls do not get one each: a sweep runs every
// `every` ms while any deadline is pending, and a deadline falls due on the sweep after its time.
// No clock is read: time is counted in sweeps, so tests that fake timers fake it all.

export class Deadlines {
  private readonly every: number;
  /** Sweeps run so far. */
  private sweeps = 0;
  /** By the sweep they fall due on: what to run then. */
  private readonly due = new Map<number, Set<() => void>>();
  private timer?: ReturnType<typeof setTimeout>;

  /** `every`: ms between sweeps, the most a deadline runs late. */
  constructor(every: number) {
    this.every = every;
  }

  /** Runs `expire` once at least `ms` passed (at most `ms` + `every`), unless cancelled by the function it returns. */
  add(ms: number, expire: () => void): () => void {
    // the next sweep comes within `every`: one more makes the wait at least `ms`
    const at = this.sweeps + Math.ceil(ms / this.every) + 1;
    let set = this.due.get(at);
    if (!set) this.due.set(at, (set = new Set()));
    set.add(expire);
    this.timer ??= setTimeout(() => this.sweep(), this.every);
    return () => {
      set.delete(expire);
      if (!set.size && this.due.get(at) === set) this.due.delete(at);
    };
  }

  /** Deadlines pending. */
  get size(): number {
    let n = 0;
    for (const set of this.due.values()) n += set.size;
    return n;
  }

  private sweep(): void {
    this.timer = undefined;
    const expired = this.due.get(++this.sweeps);
    this.due.delete(this.sweeps);
    // the timer stops once nothing is pending; the next deadline starts it again
    if (this.due.size) this.timer = setTimeout(() => this.sweep(), this.every);
    for (const expire of expired ?? []) expire();
  }
}
