// The rule engine's store (src/rules/store.ts) on the object's SQLite: definitions, each rule's
// outbox and dead letters (one row per message, keyed by rule and seq), and each rule's saved
// state (counters and usage, one row written with every batch delivered or given up).
import type { BatchLimits } from '../../rules/action.ts';
import type { DeadLetter, OutboxEntry, RuleStore, SavedState, StoredRule } from '../../rules/store.ts';
import { blob, type Sql } from './sql.ts';

type EntryRow = {
  seq: number; topic: string; payload: ArrayBuffer; qos: number; retain: number; received_at: number; attempts: number; meta: string | null;
};
type DeadRow = EntryRow & { failed_at: number; error: string };
type Meta = Pick<OutboxEntry, 'clientId' | 'username' | 'contentType' | 'userProperties'>;

const columns = 'seq, topic, payload, qos, retain, received_at, attempts, meta';

function toEntry(r: EntryRow): OutboxEntry {
  const meta = r.meta === null ? {} : (JSON.parse(r.meta) as Meta);
  return { seq: r.seq, topic: r.topic, payload: new Uint8Array(r.payload), qos: r.qos as 0 | 1 | 2, retain: r.retain === 1, receivedAt: r.received_at, attempts: r.attempts, ...meta };
}

function metaOf(e: OutboxEntry): string | null {
  const meta: Meta = { clientId: e.clientId, username: e.username, contentType: e.contentType, userProperties: e.userProperties };
  return Object.values(meta).some((v) => v !== undefined) ? JSON.stringify(meta) : null;
}

export class SqliteRuleStore implements RuleStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  rules(): StoredRule[] {
    return this.sql.all<{ name: string; definition: string; enabled: number; source: string }>('SELECT * FROM rules')
      .map((r) => ({ name: r.name, definition: JSON.parse(r.definition) as Record<string, unknown>, enabled: r.enabled === 1, source: r.source as StoredRule['source'] }));
  }

  putRule(rule: StoredRule): void {
    this.sql.run('INSERT INTO rules (name, definition, enabled, source) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, enabled = excluded.enabled, source = excluded.source',
      rule.name, JSON.stringify(rule.definition), rule.enabled ? 1 : 0, rule.source);
  }

  deleteRule(name: string): void {
    this.sql.run('DELETE FROM rules WHERE name = ?', name);
    this.sql.run('DELETE FROM rule_state WHERE rule = ?', name);
  }

  append(rule: string, e: OutboxEntry): void {
    this.sql.run(`INSERT INTO rule_outbox (rule, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      rule, e.seq, e.topic, blob(e.payload), e.qos, e.retain ? 1 : 0, e.receivedAt, e.attempts, metaOf(e));
  }

  head(rule: string, limits: BatchLimits): OutboxEntry[] {
    const out: OutboxEntry[] = [];
    let bytes = 0;
    for (const row of this.sql.all<EntryRow>(`SELECT ${columns} FROM rule_outbox WHERE rule = ? ORDER BY seq LIMIT ?`, rule, Math.max(1, limits.count))) {
      const size = row.payload.byteLength;
      if (out.length && bytes + size > limits.bytes) break;
      out.push(toEntry(row));
      bytes += size;
    }
    return out;
  }

  remove(rule: string, lastSeq: number): void {
    this.sql.run('DELETE FROM rule_outbox WHERE rule = ? AND seq <= ?', rule, lastSeq);
  }

  failed(rule: string, lastSeq: number, tries: number): OutboxEntry[] {
    this.sql.run('UPDATE rule_outbox SET attempts = attempts + 1 WHERE rule = ? AND seq <= ?', rule, lastSeq);
    return this.sql.all<EntryRow>(`SELECT ${columns} FROM rule_outbox WHERE rule = ? AND seq <= ? AND attempts >= ? ORDER BY seq`, rule, lastSeq, tries).map(toEntry);
  }

  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void {
    for (const e of entries) {
      this.sql.run(`INSERT OR REPLACE INTO rule_dead_letters (rule, ${columns}, failed_at, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        rule, e.seq, e.topic, blob(e.payload), e.qos, e.retain ? 1 : 0, e.receivedAt, e.attempts, metaOf(e), at, error.slice(0, 1024));
      this.sql.run('DELETE FROM rule_outbox WHERE rule = ? AND seq = ?', rule, e.seq);
    }
  }

  appendedAfter(rule: string, seq: number) {
    const r = this.sql.first<{ n: number; b: number | null; o: number | null; s: number | null }>(
      'SELECT count(*) AS n, sum(length(payload) + length(CAST(topic AS BLOB))) AS b, min(received_at) AS o, max(seq) AS s FROM rule_outbox WHERE rule = ? AND seq > ?', rule, seq)!;
    return { count: r.n, bytes: r.b ?? 0, oldest: r.o ?? undefined, lastSeq: r.s ?? seq };
  }

  clearOutbox(rule: string): number {
    return this.sql.run('DELETE FROM rule_outbox WHERE rule = ?', rule);
  }

  deadLetters(rule: string, afterSeq: number, limit: number): DeadLetter[] {
    return this.sql.all<DeadRow>(`SELECT ${columns}, failed_at, error FROM rule_dead_letters WHERE rule = ? AND seq > ? ORDER BY seq LIMIT ?`, rule, afterSeq, limit)
      .map((r) => ({ ...toEntry(r), failedAt: r.failed_at, error: r.error }));
  }

  deleteDeadLetters(rule: string, seqs?: number[]): DeadLetter[] {
    const chosen = seqs ? seqs.flatMap((s) => this.deadLetter(rule, s)) : this.deadLetters(rule, -1, Number.MAX_SAFE_INTEGER);
    if (seqs) for (const d of chosen) this.sql.run('DELETE FROM rule_dead_letters WHERE rule = ? AND seq = ?', rule, d.seq);
    else this.sql.run('DELETE FROM rule_dead_letters WHERE rule = ?', rule);
    return chosen;
  }

  private deadLetter(rule: string, seq: number): DeadLetter[] {
    return this.sql.all<DeadRow>(`SELECT ${columns}, failed_at, error FROM rule_dead_letters WHERE rule = ? AND seq = ?`, rule, seq)
      .map((r) => ({ ...toEntry(r), failedAt: r.failed_at, error: r.error }));
  }

  states(): Map<string, SavedState> {
    return new Map(this.sql.all<{ rule: string; saved: string }>('SELECT * FROM rule_state').map((r) => [r.rule, JSON.parse(r.saved) as SavedState]));
  }

  saveState(rule: string, state: SavedState): void {
    this.sql.run('INSERT INTO rule_state (rule, saved) VALUES (?, ?) ON CONFLICT (rule) DO UPDATE SET saved = excluded.saved', rule, JSON.stringify(state));
  }
}
