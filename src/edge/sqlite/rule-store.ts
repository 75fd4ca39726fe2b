// The rule engine's store (src/rules/store.ts) on the object's SQLite: definitions, the outbox
// (`rule_messages`: one row per message, keyed by seq, with the slots of the rules it matched as
// an integer's bits), each rule's dead letters (keyed by rule and seq) and each rule's saved state
// (counters, usage and cursor: one row written with every batch delivered or given up).
import type { BatchLimits } from '../../rules/action.ts';
import type { DeadLetter, OutboxEntry, OutboxMessage, RuleStore, SavedState, StoredRule } from '../../rules/store.ts';
import { adoptRuleOutbox } from './rule-outbox-upgrade.ts';
import { blob, type Sql } from './sql.ts';

type MessageRow = { seq: number; topic: string; payload: ArrayBuffer; qos: number; retain: number; received_at: number; meta: string | null };
type DeadRow = MessageRow & { attempts: number; failed_at: number; error: string };
type Meta = Pick<OutboxMessage, 'clientId' | 'username' | 'contentType' | 'userProperties'>;

const columns = 'seq, topic, payload, qos, retain, received_at, meta';
const deadColumns = 'seq, topic, payload, qos, retain, received_at, attempts, meta, failed_at, error';

function toMessage(r: MessageRow): OutboxMessage {
  const meta = r.meta === null ? {} : (JSON.parse(r.meta) as Meta);
  return { seq: r.seq, topic: r.topic, payload: new Uint8Array(r.payload), qos: r.qos as 0 | 1 | 2, retain: r.retain === 1, receivedAt: r.received_at, ...meta };
}

const toDead = (r: DeadRow): DeadLetter => ({ ...toMessage(r), attempts: r.attempts, failedAt: r.failed_at, error: r.error });

function metaOf(e: OutboxMessage): string | null {
  const meta: Meta = { clientId: e.clientId, username: e.username, contentType: e.contentType, userProperties: e.userProperties };
  return Object.values(meta).some((v) => v !== undefined) ? JSON.stringify(meta) : null;
}

export class SqliteRuleStore implements RuleStore {
  private readonly sql: Sql;

  /** Moves an outbox of the earlier layout (a row per rule and message) into this one first. */
  constructor(sql: Sql) {
    this.sql = sql;
    adoptRuleOutbox(sql);
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

  append(e: OutboxMessage, rules: number): void {
    this.sql.run(`INSERT INTO rule_messages (${columns}, rules) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      e.seq, e.topic, blob(e.payload), e.qos, e.retain ? 1 : 0, e.receivedAt, metaOf(e), rules);
  }

  head(slot: number, after: number, limits: BatchLimits): OutboxMessage[] {
    const out: OutboxMessage[] = [];
    let bytes = 0;
    const rows = this.sql.each<MessageRow>(`SELECT ${columns} FROM rule_messages WHERE seq > ? AND (rules & ?) <> 0 ORDER BY seq LIMIT ?`,
      after, 2 ** slot, Math.max(1, limits.count));
    for (const row of rows) {
      const size = row.payload.byteLength;
      if (out.length && bytes + size > limits.bytes) break;
      out.push(toMessage(row));
      bytes += size;
    }
    return out;
  }

  appendedAfter(slot: number, after: number) {
    const r = this.sql.first<{ n: number; b: number | null; o: number | null; s: number | null }>(
      'SELECT count(*) AS n, sum(length(payload) + length(CAST(topic AS BLOB))) AS b, min(received_at) AS o, max(seq) AS s FROM rule_messages WHERE seq > ? AND (rules & ?) <> 0',
      after, 2 ** slot)!;
    return { count: r.n, bytes: r.b ?? 0, oldest: r.o ?? undefined, lastSeq: r.s ?? after };
  }

  /** One DELETE per span between two cursors in (from, to]: a message there is kept if a rule behind it matched it. */
  release(from: number, to: number, cursors: ReadonlyMap<number, number>): void {
    const bounds = [...new Set([from, to, ...[...cursors.values()].filter((d) => d > from && d < to)])].sort((a, b) => a - b);
    for (let i = 1; i < bounds.length; i++) {
      const [lo, hi] = [bounds[i - 1], bounds[i]];
      const behind = [...cursors].filter(([, done]) => done <= lo).reduce((mask, [slot]) => mask + 2 ** slot, 0);
      this.sql.run('DELETE FROM rule_messages WHERE seq > ? AND seq <= ? AND (rules & ?) = 0', lo, hi, behind);
    }
  }

  lastSeq(): number {
    return this.sql.first<{ s: number | null }>('SELECT max(seq) AS s FROM rule_messages')!.s ?? 0;
  }

  bury(rule: string, entries: OutboxEntry[], error: string, at: number): void {
    for (const e of entries) {
      this.sql.run(`INSERT OR REPLACE INTO rule_dead_letters (rule, ${deadColumns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        rule, e.seq, e.topic, blob(e.payload), e.qos, e.retain ? 1 : 0, e.receivedAt, e.attempts, metaOf(e), at, error.slice(0, 1024));
    }
  }

  deadLetters(rule: string, afterSeq: number, limit: number): DeadLetter[] {
    return this.sql.all<DeadRow>(`SELECT ${deadColumns} FROM rule_dead_letters WHERE rule = ? AND seq > ? ORDER BY seq LIMIT ?`, rule, afterSeq, limit).map(toDead);
  }

  deleteDeadLetters(rule: string, seqs?: number[]): DeadLetter[] {
    const chosen = seqs ? seqs.flatMap((s) => this.deadLetter(rule, s)) : this.deadLetters(rule, -1, Number.MAX_SAFE_INTEGER);
    if (seqs) for (const d of chosen) this.sql.run('DELETE FROM rule_dead_letters WHERE rule = ? AND seq = ?', rule, d.seq);
    else this.sql.run('DELETE FROM rule_dead_letters WHERE rule = ?', rule);
    return chosen;
  }

  private deadLetter(rule: string, seq: number): DeadLetter[] {
    return this.sql.all<DeadRow>(`SELECT ${deadColumns} FROM rule_dead_letters WHERE rule = ? AND seq = ?`, rule, seq).map(toDead);
  }

  states(): Map<string, SavedState> {
    return new Map(this.sql.all<{ rule: string; saved: string }>('SELECT * FROM rule_state').map((r) => [r.rule, JSON.parse(r.saved) as SavedState]));
  }

  saveState(rule: string, state: SavedState): void {
    this.sql.run('INSERT INTO rule_state (rule, saved) VALUES (?, ?) ON CONFLICT (rule) DO UPDATE SET saved = excluded.saved', rule, JSON.stringify(state));
  }
}
