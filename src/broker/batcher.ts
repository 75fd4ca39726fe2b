// Calls between objects, batched by load: at most one call in flight per target; what arrives
// meanwhile rides the next call. An idle target gets a call per item at once; a busy one gets
// fewer, larger calls, so the cost per item falls as traffic rises. Items to one target keep
// their order.

/** Items pushed together (none: a wait for those before), answered together from `results[at]` on. */
interface Waiter<R> {
  count: number;
  bytes: number;
  resolve: (results: R[], at: number) => void;
  reject: (e: unknown) => void;
  /** Items posted: nobody waits for their answer, and items posted after them may join. */
  posted?: true;
}

const ignore = () => undefined;

interface Queue<T, R> {
  items: T[];
  waiting: Waiter<R>[];
  busy: boolean;
}

export interface BatchLimits<T> {
  /** Most items in one call (a push of more is split). */
  items: number;
  /** Most bytes in one call, by `size` (one push of items may pass it). */
  bytes: number;
  size: (item: T) => number;
}

export class Batcher<K, T, R> {
  private readonly queues = new Map<K, Queue<T, R>>();
  private readonly send: (target: K, items: T[]) => Promise<R[]>;
  private readonly limits: BatchLimits<T>;
  /** Calls made and items carried, for the cost figures. */
  readonly stats = { calls: 0, items: 0 };

  constructor(send: (target: K, items: T[]) => Promise<R[]>, limits: number | Partial<BatchLimits<T>> = 256) {
    this.send = send;
    const given = typeof limits === 'number' ? { items: limits } : limits;
    this.limits = { items: 256, bytes: Infinity, size: () => 0, ...given };
  }

  push(target: K, item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.enter(target, [item], { count: 1, bytes: this.limits.size(item), resolve: (results, at) => resolve(results[at]), reject });
    });
  }

  /**
   * Sends an item whose answer nobody waits for (a failed call is the sender's `send` to report):
   * no promise of its own, and items posted one after the other share one waiter.
   */
  post(target: K, item: T): void {
    const size = this.limits.size(item);
    const q = this.queues.get(target);
    const w = q?.waiting[q.waiting.length - 1];
    if (w?.posted && w.count < this.limits.items && w.bytes + size <= this.limits.bytes) {
      q!.items.push(item);
      w.count++;
      w.bytes += size;
      return;
    }
    this.enter(target, [item], { count: 1, bytes: size, resolve: ignore, reject: ignore, posted: true });
  }

  /** Pushes items in order; one promise for all of them, in their order. */
  pushAll(target: K, items: T[]): Promise<R[]> {
    if (items.length > this.limits.items) {
      const parts: Promise<R[]>[] = [];
      for (let i = 0; i < items.length; i += this.limits.items) parts.push(this.pushAll(target, items.slice(i, i + this.limits.items)));
      return Promise.all(parts).then((results) => results.flat());
    }
    let bytes = 0;
    for (const item of items) bytes += this.limits.size(item);
    return new Promise<R[]>((resolve, reject) => {
      this.enter(target, items, { count: items.length, bytes, resolve: (results, at) => resolve(results.slice(at, at + items.length)), reject });
    });
  }

  /** Items waiting for a call to `target` (not those in the call in flight). */
  queued(target: K): number {
    return this.queues.get(target)?.items.length ?? 0;
  }

  /** Resolves once every item pushed so far was answered or failed. */
  settled(): Promise<unknown> {
    return Promise.all([...this.queues.values()].map((q) => new Promise<void>((resolve) => {
      q.waiting.push({ count: 0, bytes: 0, resolve: () => resolve(), reject: () => resolve() });
    })));
  }

  private enter(target: K, items: T[], waiter: Waiter<R>): void {
    let q = this.queues.get(target);
    if (!q) this.queues.set(target, (q = { items: [], waiting: [], busy: false }));
    q.waiting.push(waiter);
    for (const item of items) q.items.push(item);
    // the rest of this event's items join the first call
    if (!q.busy) {
      q.busy = true;
      const queue = q;
      // a promise's reaction, not queueMicrotask: the same microtask, without a call into the
      // runtime (on workerd queueMicrotask cost some 30 µs)
      void Promise.resolve().then(() => this.drain(target, queue));
    }
  }

  private async drain(target: K, q: Queue<T, R>): Promise<void> {
    while (q.waiting.length) {
      // whole pushes, up to the limits (one push at least)
      let [pushes, count, bytes] = [0, 0, 0];
      for (const w of q.waiting) {
        if (pushes && (count + w.count > this.limits.items || bytes + w.bytes > this.limits.bytes)) break;
        [pushes, count, bytes] = [pushes + 1, count + w.count, bytes + w.bytes];
      }
      const items = q.items.splice(0, count);
      const waiting = q.waiting.splice(0, pushes);
      if (!items.length) { // only waits for what went before
        for (const w of waiting) w.resolve([], 0);
        continue;
      }
      this.stats.calls++;
      this.stats.items += items.length;
      try {
        const results = await this.send(target, items);
        let at = 0;
        for (const w of waiting) {
          w.resolve(results, at);
          at += w.count;
        }
      } catch (err) {
        for (const w of waiting) w.reject(err);
      }
    }
    q.busy = false;
    this.queues.delete(target);
  }
}
