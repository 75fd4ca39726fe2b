// The RuleStore in memory: the reference the SQLite store follows, and what Node tests use.
import type { BatchLimits } from './action.ts';
import { entrySize, type DeadLetter, type OutboxEntry, type RuleStore, type SavedState, type StoredRule } from './store.ts';

export class MemoryRuleStore implements RuleStore {
  readonly stored = new Map<string, StoredRule>();
  readonly outbox = new Map<string, OutboxEntry[]>();
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
  append(rule: string, entry: OutboxEntry): void {
    const list = this.outbox.get(rule) ?? [];
    list.push({ ...entry });
    this.outbox.set(rule, list);
  }
  head(rule: string, limits: BatchLimits): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    let bytes = 0;
    for (const e of this.outbox.get(rule) ?? []) {
      if (out.length && (out.length >= limits.count || bytes + e.payload.length > limits.bytes)) break;
      out.push({ ...e });
      bytes += e.payload.length;
    }
    return out;
  }
  remove(rule: string, lastSeq: number): void {
    this.outbox.set(rule, (this.outbox.get(rule) ?? []).filter((e) => e.seq > lastSeq));
  }
  failed(rule: string, lastSeq: number, tries: number): OutboxEntry[] {
    const spent: OutboxEntry[] = [];
    for (const e of this.outbox.get(rule) ?? []) {
      if (e.seq > lastSeq) break;
      if (++e.attempts >= tries) spent.push({ ...e });
    }
    return spent;
  }
  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void {
    const seqs = new Set(entries.map((e) => e.seq));
    this.outbox.set(rule, (this.outbox.get(rule) ?? []).filter((e) => !seqs.has(e.seq)));
    this.dead.set(rule, [...(this.dead.get(rule) ?? []), ...entries.map((e) => ({ ...e, error, failedAt: at }))]);
  }
  appendedAfter(rule: string, seq: number) {
    const list = (this.outbox.get(rule) ?? []).filter((e) => e.seq > seq);
    return { count: list.length, bytes: list.reduce((n, e) => n + entrySize(e), 0), oldest: list[0]?.receivedAt, lastSeq: list.length ? list[list.length - 1].seq : seq };
  }
  clearOutbox(rule: string): number {
    const n = this.outbox.get(rule)?.length ?? 0;
    this.outbox.delete(rule);
    return n;
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
