// Calls between objects, batched by load: at most one call in flight per target; what arrives
// meanwhile rides the next call. An idle target gets a call per item at once; a busy one gets
// fewer, larger calls, so the cost per item falls as traffic rises. Items to one target keep
// their order.
interface Queue<T, R> {
  items: T[];
  waiting: Array<{ resolve: (r: R) => void; reject: (e: unknown) => void }>;
  busy: boolean;
}

export class Batcher<K, T, R> {
  private readonly queues = new Map<K, Queue<T, R>>();
  private readonly send: (target: K, items: T[]) => Promise<R[]>;
  private readonly maxBatch: number;
  /** Calls made and items carried, for the cost figures. */
  readonly stats = { calls: 0, items: 0 };

  constructor(send: (target: K, items: T[]) => Promise<R[]>, maxBatch = 256) {
    this.send = send;
    this.maxBatch = maxBatch;
  }

  push(target: K, item: T): Promise<R> {
    let q = this.queues.get(target);
    if (!q) this.queues.set(target, (q = { items: [], waiting: [], busy: false }));
    const result = new Promise<R>((resolve, reject) => q.waiting.push({ resolve, reject }));
    q.items.push(item);
    // the rest of this event's items join the first call
    if (!q.busy) {
      q.busy = true;
      queueMicrotask(() => void this.drain(target, q));
    }
    return result;
  }

  private async drain(target: K, q: Queue<T, R>): Promise<void> {
    while (q.items.length) {
      const items = q.items.splice(0, this.maxBatch);
      const waiting = q.waiting.splice(0, items.length);
      this.stats.calls++;
      this.stats.items += items.length;
      try {
        const results = await this.send(target, items);
        waiting.forEach((w, i) => w.resolve(results[i]));
      } catch (err) {
        for (const w of waiting) w.reject(err);
      }
    }
    q.busy = false;
    this.queues.delete(target);
  }
}
