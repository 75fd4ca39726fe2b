// The RuleStore in memory: the reference the SQLite store follows, and what Node tests use.
import type { BatchLimits } from './action.ts';
import { entrySize, hasSlot, type DeadLetter, type OutboxEntry, type OutboxMessage, type RuleStore, type SavedState, type StoredRule } from './store.ts';

export class MemoryRuleStore implements RuleStore {
  readonly stored = new Map<string, StoredRule>();
  /** The outbox in seq order, each message with its rule set. */
  readonly outbox: Array<{ message: OutboxMessage; rules: number }> = [];
  readonly dead = new Map<string, DeadLetter[]>();
  readonly saved = new Map<string, SavedState>();

  rules(): StoredRule[] {
    return [...this.stored.values()].map((r) => ({ ...r }));
  }
  putRule(rule: StoredRule): void {
    this.stored.set(rule.name, { ...rule });
  }
  deleteRule(name: string): void {
    this.stored.delete(name);
    this.saved.delete(name);
  }
  append(message: OutboxMessage, rules: number): void {
    this.outbox.push({ message: { ...message }, rules });
  }
  private after(slot: number, after: number): OutboxMessage[] {
    return this.outbox.filter((m) => m.message.seq > after && hasSlot(m.rules, slot)).map((m) => ({ ...m.message }));
  }
  head(slot: number, after: number, limits: BatchLimits): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    let bytes = 0;
    for (const m of this.after(slot, after)) {
      if (out.length && (out.length >= limits.count || bytes + m.payload.length > limits.bytes)) break;
      out.push(m);
      bytes += m.payload.length;
    }
    return out;
  }
  appendedAfter(slot: number, after: number) {
    const list = this.after(slot, after);
    return { count: list.length, bytes: list.reduce((n, e) => n + entrySize(e), 0), oldest: list[0]?.receivedAt, lastSeq: list.length ? list[list.length - 1].seq : after };
  }
  release(from: number, to: number, cursors: ReadonlyMap<number, number>): void {
    const needed = (m: { message: OutboxMessage; rules: number }) =>
      m.message.seq <= from || m.message.seq > to || [...cursors].some(([slot, done]) => done < m.message.seq && hasSlot(m.rules, slot));
    this.outbox.splice(0, this.outbox.length, ...this.outbox.filter(needed));
  }
  lastSeq(): number {
    return this.outbox.length ? this.outbox[this.outbox.length - 1].message.seq : 0;
  }
  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void {
    this.dead.set(rule, [...(this.dead.get(rule) ?? []), ...entries.map((e) => ({ ...e, error, failedAt: at }))]);
  }
  deadLetters(rule: string, afterSeq: number, limit: number): DeadLetter[] {
    return (this.dead.get(rule) ?? []).filter((e) => e.seq > afterSeq).slice(0, limit);
  }
  deleteDeadLetters(rule: string, seqs?: number[]): DeadLetter[] {
    const all = this.dead.get(rule) ?? [];
    const chosen = seqs ? new Set(seqs) : undefined;
    const gone = all.filter((e) => !chosen || chosen.has(e.seq));
    this.dead.set(rule, all.filter((e) => chosen && !chosen.has(e.seq)));
    return gone;
  }
  states(): Map<string, SavedState> {
    return new Map([...this.saved].map(([k, v]) => [k, structuredClone(v)]));
  }
  saveState(rule: string, state: SavedState): void {
    this.saved.set(rule, structuredClone(state));
  }
}
