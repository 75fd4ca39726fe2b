// The namespace's quota on retained messages, in count and payload bytes: a RetainedStore that
// keeps the totals (read from the store once, at the first retained write after a start, then
// kept as messages come and go) and stores nothing that would pass them.
import { ReasonCode } from '../protocol/index.ts';
import type { BrokerConfig } from './config.ts';
import type { Message, RetainedBudget, RetainedStore } from './ports.ts';

export interface RetainedQuotaLimits {
  messages: number;
  bytes: number;
}

/** The configured quota. */
export const retainedQuota = (config: BrokerConfig): RetainedQuotaLimits => ({ messages: config.maxRetainedMessages, bytes: config.maxRetainedBytes });

export class RetainedQuota implements RetainedStore {
  private readonly store: RetainedStore;
  private readonly limits: RetainedQuotaLimits;
  private used?: { count: number; bytes: number };

  constructor(store: RetainedStore, limits: RetainedQuotaLimits) {
    this.store = store;
    this.limits = limits;
  }

  /** 0x97 when retaining `bytes` of payload on `topic` would pass the quota; clearing always passes. */
  refusal(topic: string, bytes: number): number | undefined {
    return bytes > 0 && this.over(this.store.size(topic), bytes) ? ReasonCode.QuotaExceeded : undefined;
  }

  /** Stores the message unless it would pass the quota; false then. */
  set(message: Message): boolean {
    const old = this.store.size(message.topic);
    const bytes = message.payload.length;
    if (this.over(old, bytes)) return false;
    this.store.set(message);
    this.used!.count += old === undefined ? 1 : 0;
    this.used!.bytes += bytes - (old ?? 0);
    return true;
  }

  private over(old: number | undefined, bytes: number): boolean {
    const used = (this.used ??= this.store.usage());
    const count = used.count + (old === undefined ? 1 : 0);
    return count > this.limits.messages || used.bytes - (old ?? 0) + bytes > this.limits.bytes;
  }

  delete(topic: string): void {
    const old = this.used && this.store.size(topic);
    this.store.delete(topic);
    if (old === undefined || !this.used) return;
    this.used.count--;
    this.used.bytes -= old;
  }

  get(topic: string): Message | undefined {
    return this.store.get(topic);
  }

  match(filter: string, budget?: RetainedBudget): Message[] {
    return this.store.match(filter, budget);
  }

  count(): number {
    return this.store.count();
  }

  size(topic: string): number | undefined {
    return this.store.size(topic);
  }

  usage(): { count: number; bytes: number } {
    return this.used ? { ...this.used } : this.store.usage();
  }
}
