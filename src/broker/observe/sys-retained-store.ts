// The retained store as the broker sees it: $SYS topics are answered with live figures and never
// stored; every other topic goes to the real store.
import type { Message, RetainedStore } from '../ports.ts';
import { isSys } from './sys-topics.ts';

export class SysRetainedStore implements RetainedStore {
  /** The $SYS messages matching a filter; set once the broker exists. */
  sys: (filter: string) => Message[] = () => [];
  private readonly store: RetainedStore;

  constructor(store: RetainedStore) {
    this.store = store;
  }

  get(topic: string): Message | undefined {
    return isSys(topic) ? this.sys(topic)[0] : this.store.get(topic);
  }

  set(message: Message): void {
    if (isSys(message.topic)) return;
    this.store.set(message);
  }

  delete(topic: string): void {
    if (isSys(topic)) return;
    this.store.delete(topic);
  }

  match(filter: string): Message[] {
    return isSys(filter) ? this.sys(filter) : this.store.match(filter);
  }

  /** Stored messages only (the store keeps the count). */
  count(): number {
    return this.store.count();
  }
}
