// What a scenario receives, checked as it arrives: every message carries its source, sequence
// number and send time, so losses, duplicates, reordering and latency come from one place.

const payloadSize = 64;
export const clock = (): number => performance.timeOrigin + performance.now();

/** A 64-byte payload: source (u16), sequence (u32), send time (f64 ms), then padding. */
export function payload(source: number, seq: number): Buffer {
  const b = Buffer.alloc(payloadSize, 0x2e);
  b.writeUInt16BE(source, 0);
  b.writeUInt32BE(seq, 2);
  b.writeDoubleBE(clock(), 6);
  return b;
}

export class Tracker {
  /** Per source: messages received (each counted once per receiver). */
  readonly received: number[];
  duplicates = 0;
  reordered = 0;
  readonly latencies: number[] = [];
  lastAt = 0;
  private readonly next: Map<string, number> = new Map();
  private readonly seen: Set<string> = new Set();
  private waiters: Array<() => void> = [];
  private readonly expected: number;

  constructor(sources: number, expected: number) {
    this.received = new Array(sources).fill(0);
    this.expected = expected;
  }

  get total(): number {
    return this.received.reduce((a, b) => a + b, 0);
  }

  /** A message arrived at `receiver`. */
  record(receiver: number, data: Buffer): void {
    const source = data.readUInt16BE(0);
    const seq = data.readUInt32BE(2);
    const key = `${receiver}/${source}/${seq}`;
    if (this.seen.has(key)) {
      this.duplicates++;
      return;
    }
    this.seen.add(key);
    const stream = `${receiver}/${source}`;
    if (seq < (this.next.get(stream) ?? 0)) this.reordered++;
    else this.next.set(stream, seq + 1);
    this.received[source]++;
    this.lastAt = clock();
    this.latencies.push(this.lastAt - data.readDoubleBE(6));
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next arrival; false when nothing arrived for `stallMs` (messages lost). */
  arrival(stallMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), stallMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Waits until every expected message arrived, or arrivals stall. */
  async done(stallMs: number): Promise<void> {
    while (this.total < this.expected) if (!(await this.arrival(stallMs))) return;
  }

  get losses(): number {
    return this.expected - this.total;
  }
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
