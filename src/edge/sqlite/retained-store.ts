// RetainedStore on the object's SQLite, one row per topic. A wildcard look-up reads only the
// range of topics under the filter's literal prefix, then applies the matching rule.
import type { Message, RetainedStore } from '../../broker/index.ts';
import { literalPrefix, matches } from '../../broker/topic-match.ts';
import { gauge } from './schema.ts';
import { blob, fromJson, toJson, type Sql } from './sql.ts';
import { rowsLeft, take, type RetainedBudget } from '../../broker/retained-budget.ts';

type RetainedRow = { topic: string; payload: ArrayBuffer; qos: number; meta: string | null };
type RetainedMeta = Pick<Message, 'properties' | 'expiresAt'>;

export class SqliteRetainedStore implements RetainedStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  get(topic: string): Message | undefined {
    const row = this.sql.first<RetainedRow>('SELECT * FROM retained WHERE topic = ?', topic);
    return row && toMessage(row);
  }

  set(m: Message): void {
    const meta: RetainedMeta = { properties: m.properties, expiresAt: m.expiresAt };
    // an upsert, not INSERT OR REPLACE: a replace deletes without firing the gauge's trigger
    this.sql.run(`INSERT INTO retained (topic, payload, qos, meta) VALUES (?, ?, ?, ?)
      ON CONFLICT (topic) DO UPDATE SET payload = excluded.payload, qos = excluded.qos, meta = excluded.meta`,
    m.topic, blob(m.payload), m.qos, toJson(meta));
  }

  delete(topic: string): void {
    this.sql.run('DELETE FROM retained WHERE topic = ?', topic);
  }

  match(filter: string, budget?: RetainedBudget): Message[] {
    if (budget) return this.matchWithin(filter, budget);
    const [where, ...bindings] = range(filter);
    return this.sql.all<RetainedRow>(`SELECT * FROM retained WHERE ${where}`, ...bindings)
      .filter((r) => matches(filter, r.topic)).map(toMessage);
  }

  /** Topics and sizes first, at most `budget.rows` of them; then only the messages that fit. */
  private matchWithin(filter: string, budget: RetainedBudget): Message[] {
    const [where, ...bindings] = range(filter);
    const limit = rowsLeft(budget);
    const found = this.sql.all<{ topic: string; size: number }>(
      `SELECT topic, length(payload) AS size FROM retained WHERE ${where} LIMIT ?`, ...bindings, limit + 1);
    if (found.length > limit) (found.length = limit), budget.skipped++;
    budget.rows -= found.length;
    const out: Message[] = [];
    for (const { topic, size } of found) {
      if (!matches(filter, topic) || !take(budget, size)) continue;
      const message = this.get(topic);
      if (message) out.push(message);
    }
    return out;
  }

  /** One row read: the gauge the table's triggers keep (schema.ts). */
  count(): number {
    return gauge(this.sql, 'retained');
  }

  size(topic: string): number | undefined {
    return this.sql.first<{ size: number }>('SELECT length(payload) AS size FROM retained WHERE topic = ?', topic)?.size;
  }

  usage(): { count: number; bytes: number } {
    const row = this.sql.first<{ count: number; bytes: number }>('SELECT count(*) AS count, coalesce(sum(length(payload)), 0) AS bytes FROM retained');
    return { count: row!.count, bytes: row!.bytes };
  }
}

/** The rows a filter can match: the topic itself, or the range under its literal prefix. */
function range(filter: string): [string, ...string[]] {
  const prefix = literalPrefix(filter);
  if (prefix === filter) return ['topic = ?', filter];
  if (prefix === '') return ['1'];
  // the topic itself ('a/#' matches 'a') or anything in ['a/', 'a0'): '0' follows '/'
  return ['topic = ? OR (topic >= ? AND topic < ?)', prefix, `${prefix}/`, `${prefix}0`];
}

function toMessage(r: RetainedRow): Message {
  const meta = fromJson<RetainedMeta>(r.meta) ?? {};
  const message: Message = { topic: r.topic, payload: new Uint8Array(r.payload), qos: r.qos as Message['qos'], retain: true };
  if (meta.properties) message.properties = meta.properties;
  if (meta.expiresAt !== undefined) message.expiresAt = meta.expiresAt;
  return message;
}
