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

/** Attachments are read on every claim and queued message, so they are cached in memory. */
export class SqliteAttachments implements AttachmentStore {
  private readonly cache = new Map<string, Attachment>();
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
    for (const r of sql.all<{ client_id: string; gateway: number; connection_id: string; owner: string | null }>('SELECT * FROM attachments')) {
      const a: Attachment = { gateway: r.gateway, connectionId: r.connection_id };
      if (r.owner !== null) a.owner = r.owner;
      this.cache.set(r.client_id, a);
    }
  }

  get(clientId: string): Attachment | undefined {
    return this.cache.get(clientId);
  }

  set(clientId: string, a: Attachment): void {
    this.cache.set(clientId, a);
    this.sql.run('INSERT OR REPLACE INTO attachments (client_id, gateway, connection_id, owner) VALUES (?, ?, ?, ?)', clientId, a.gateway, a.connectionId, a.owner ?? null);
  }

  delete(clientId: string): void {
    if (this.cache.delete(clientId)) this.sql.run('DELETE FROM attachments WHERE client_id = ?', clientId);
  }
}
