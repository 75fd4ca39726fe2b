// The reference RetainedStore: one map by topic, matched with the plain topic-matching rule.
import type { Message, RetainedStore } from '../ports.ts';
import { matches } from '../topic-match.ts';

export class MemoryRetainedStore implements RetainedStore {
  private readonly messages = new Map<string, Message>();

  get(topic: string): Message | undefined {
    const m = this.messages.get(topic);
    return m && structuredClone(m);
  }

  set(message: Message): void {
    this.messages.set(message.topic, structuredClone(message));
  }

  delete(topic: string): void {
    this.messages.delete(topic);
  }

  match(filter: string): Message[] {
    return [...this.messages.values()].filter((m) => matches(filter, m.topic)).map((m) => structuredClone(m));
  }

  count(): number {
    return this.messages.size;
  }
}
