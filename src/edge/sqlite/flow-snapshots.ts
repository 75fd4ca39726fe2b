// FlowSnapshots on the object's SQLite: the flows of live clean sessions, one whole snapshot per
// client id, rewritten when saved (clean-flows.ts says when), in as few statements as the
// binding limit allows.
import type { FlowSnapshots } from '../../broker/clean-flows.ts';
import type { OutboundMessage } from '../../broker/index.ts';
import { insertOutbound, toOutbound, type OutboundRow } from './session-store.ts';
import type { Sql } from './sql.ts';

export class SqliteFlowSnapshots implements FlowSnapshots {
  private readonly sql: Sql;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  save(clientId: string, outbound: OutboundMessage[], incoming: number[]): void {
    this.delete(clientId);
    insertOutbound(this.sql, 'clean_outbound', clientId, outbound);
    if (incoming.length) this.sql.run('INSERT INTO clean_incoming (client_id, packet_id) SELECT ?, value FROM json_each(?)', clientId, JSON.stringify(incoming));
  }

  load(clientId: string): { outbound: OutboundMessage[]; incoming: number[] } {
    const outbound = this.sql.all<OutboundRow>('SELECT * FROM clean_outbound WHERE client_id = ? ORDER BY seq', clientId).map(toOutbound);
    const incoming = this.sql.all<{ packet_id: number }>('SELECT packet_id FROM clean_incoming WHERE client_id = ?', clientId).map((r) => r.packet_id);
    return { outbound, incoming };
  }

  delete(clientId: string): void {
    this.sql.run('DELETE FROM clean_outbound WHERE client_id = ?', clientId);
    this.sql.run('DELETE FROM clean_incoming WHERE client_id = ?', clientId);
  }
}
