// RetainedStore on the object's SQLite, one row per topic. A wildcard look-up reads only the
// range of topics under the filter's literal prefix, then applies the matching rule.
import type { Message, RetainedStore } from '../../broker/index.ts';
import { literalPrefix, matches } from '../../broker/topic-match.ts';
import { gauge } from './schema.ts';
import { blob, fromJson, toJson, type Sql } from './sql.ts';

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

  match(filter: string): Message[] {
    const prefix = literalPrefix(filter);
    const rows = prefix === filter
      ? this.sql.all<RetainedRow>('SELECT * FROM retained WHERE topic = ?', filter)
      : prefix === ''
        ? this.sql.all<RetainedRow>('SELECT * FROM retained')
        // the topic itself ('a/#' matches 'a') or anything in ['a/', 'a0'): '0' follows '/'
        : this.sql.all<RetainedRow>('SELECT * FROM retained WHERE topic = ? OR (topic >= ? AND topic < ?)',
          prefix, `${prefix}/`, `${prefix}0`);
    return rows.filter((r) => matches(filter, r.topic)).map(toMessage);
  }

  /** One row read: the gauge the table's triggers keep (schema.ts). */
  count(): number {
    return gauge(this.sql, 'retained');
  }
}

function toMessage(r: RetainedRow): Message {
  const meta = fromJson<RetainedMeta>(r.meta) ?? {};
  const message: Message = { topic: r.topic, payload: new Uint8Array(r.payload), qos: r.qos as Message['qos'], retain: true };
  if (meta.properties) message.properties = meta.properties;
  if (meta.expiresAt !== undefined) message.expiresAt = meta.expiresAt;
  return message;
}
