// The reference RetainedStore: one map by topic, matched with the plain topic-matching rule.
import type { Message, RetainedStore } from '../ports.ts';
import { rowsLeft, take, type RetainedBudget } from '../retained-budget.ts';
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

  match(filter: string, budget?: RetainedBudget): Message[] {
    const out: Message[] = [];
    let left = rowsLeft(budget);
    for (const m of this.messages.values()) {
      if (left === 0) {
        budget!.skipped++; // examined as many as allowed
        break;
      }
      left--;
      if (matches(filter, m.topic) && take(budget, m.payload.length)) out.push(structuredClone(m));
    }
    if (budget) budget.rows = left;
    return out;
  }

  count(): number {
    return this.messages.size;
  }

  size(topic: string): number | undefined {
    return this.messages.get(topic)?.payload.length;
  }

  usage(): { count: number; bytes: number } {
    let bytes = 0;
    for (const m of this.messages.values()) bytes += m.payload.length;
    return { count: this.messages.size, bytes };
  }
}
