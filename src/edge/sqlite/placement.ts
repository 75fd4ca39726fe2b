// Where clients are, in the sharded topology: a topic shard's record of each subscriber's gateway
// (NULL while its session is away), and a session object's record of each live connection.
import type { Location, LocationStore } from '../../broker/roles/shard-host.ts';
import type { Attachment, AttachmentStore } from '../../broker/roles/session-owner.ts';
import type { Sql } from './sql.ts';

export class SqliteLocations implements LocationStore {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  all(): Array<[string, Location]> {
    return this.sql.all<{ client_id: string; gateway: number | null }>('SELECT client_id, gateway FROM locations')
      .map((r) => [r.client_id, r.gateway ?? 'away']);
  }

  set(clientId: string, where: Location): void {
    this.sql.run('INSERT OR REPLACE INTO locations (client_id, gateway) VALUES (?, ?)', clientId, where === 'away' ? null : where);
  }

  delete(clientId: string): void {
    this.sql.run('DELETE FROM locations WHERE client_id = ?', clientId);
  }
}

/**
 * Attachments are read on every claim and queued message, so they are cached in memory, whole
 * (loaded at start); so is the number of them that count against the persistent-session quota.
 */
export class SqliteAttachments implements AttachmentStore {
  private readonly cache = new Map<string, Attachment>();
  private readonly sql: Sql;
  private countedTotal = 0;

  constructor(sql: Sql) {
    this.sql = sql;
    type Row = { client_id: string; gateway: number; connection_id: string; owner: string | null; counted: number | null };
    for (const r of sql.all<Row>('SELECT * FROM attachments')) {
      const a: Attachment = { gateway: r.gateway, connectionId: r.connection_id };
      if (r.owner !== null) a.owner = r.owner;
      if (r.counted) a.counted = true;
      this.remember(r.client_id, a);
    }
  }

  get(clientId: string): Attachment | undefined {
    return this.cache.get(clientId);
  }

  set(clientId: string, a: Attachment): void {
    this.remember(clientId, a);
    this.sql.run('INSERT OR REPLACE INTO attachments (client_id, gateway, connection_id, owner, counted) VALUES (?, ?, ?, ?, ?)',
      clientId, a.gateway, a.connectionId, a.owner ?? null, a.counted ? 1 : null);
  }

  delete(clientId: string): void {
    const a = this.cache.get(clientId);
    if (!a) return;
    this.forget(clientId, a);
    this.sql.run('DELETE FROM attachments WHERE client_id = ?', clientId);
  }

  counted(): number {
    return this.countedTotal;
  }

  private remember(clientId: string, a: Attachment): void {
    const old = this.cache.get(clientId);
    if (old) this.forget(clientId, old);
    this.cache.set(clientId, a);
    if (a.counted) this.countedTotal++;
  }

  private forget(clientId: string, a: Attachment): void {
    this.cache.delete(clientId);
    if (a.counted) this.countedTotal--;
  }
}
