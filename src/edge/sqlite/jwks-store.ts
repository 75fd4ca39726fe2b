// JwksStore on the object's SQLite: the last good JWKS of each URL, one row, so that a wake or a
// restart finds the provider's keys without a fetch. Written once per successful fetch.
import type { JwksStore, StoredJwks } from '../../broker/ports.ts';
import type { Sql } from './sql.ts';

type JwksRow = { body: string; fetched_at: number; fresh_until: number };

export class SqliteJwksStore implements JwksStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  load(url: string): StoredJwks | undefined {
    const row = this.sql.first<JwksRow>('SELECT body, fetched_at, fresh_until FROM jwks WHERE url = ?', url);
    return row && { body: row.body, fetchedAt: row.fetched_at, freshUntil: row.fresh_until };
  }

  save(url: string, jwks: StoredJwks): void {
    this.sql.run('INSERT OR REPLACE INTO jwks (url, body, fetched_at, fresh_until) VALUES (?, ?, ?, ?)',
      url, jwks.body, jwks.fetchedAt, jwks.freshUntil);
  }
}
