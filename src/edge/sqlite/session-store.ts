// SessionStore on the object's SQLite: sessions, their subscriptions, outbound messages and
// received QoS 2 ids. Every call is one or two statements; nothing is cached here.
import type { Message, OutboundMessage, SessionState, SessionStore, StoredSubscription, StoredWill } from '../../broker/index.ts';
import { gauge, setGauge } from './schema.ts';
import { blob, fromJson, toJson, type Sql } from './sql.ts';

type SessionRow = {
  client_id: string; expiry_interval: number; connection_id: string | null; disconnected_at: number | null; will: string | null; owner: string | null;
};
export type OutboundRow = {
  seq: number; state: string; packet_id: number | null; topic: string; payload: ArrayBuffer; qos: number; retain: number; meta: string | null;
};
/** The parts of an outbound message that have no column of their own. */
type OutboundMeta = Pick<Message, 'properties' | 'expiresAt' | 'publisher' | 'stamp'> & { subscriptionIdentifiers?: number[] };

export class SqliteSessionStore implements SessionStore {
  private readonly sql: Sql;
  /** Last outbound seq handed out; read once from the table. */
  private seq?: number;
  /** Outbound rows added less rows deleted since the outbound gauge was last read. */
  private outboundChange = 0;

  constructor(sql: Sql) {
    this.sql = sql;
  }

  get(clientId: string): SessionState | undefined {
    const row = this.sql.first<SessionRow>('SELECT * FROM sessions WHERE client_id = ?', clientId);
    return row && toState(row);
  }

  put(s: SessionState): void {
    // an upsert, not INSERT OR REPLACE: a replace deletes without firing the gauge's trigger
    this.sql.run(
      `INSERT INTO sessions (client_id, expiry_interval, connection_id, disconnected_at, will, owner) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (client_id) DO UPDATE SET expiry_interval = excluded.expiry_interval, connection_id = excluded.connection_id,
       disconnected_at = excluded.disconnected_at, will = excluded.will, owner = excluded.owner`,
      s.clientId, s.expiryInterval, s.connectionId ?? null, s.disconnectedAt ?? null, toJson(s.will), s.owner ?? null,
    );
  }

  delete(clientId: string): void {
    for (const table of ['sessions', 'subscriptions', 'outbound', 'incoming']) {
      const deleted = this.sql.run(`DELETE FROM ${table} WHERE client_id = ?`, clientId);
      if (table === 'outbound') this.outboundChange -= deleted;
    }
  }

  list(): SessionState[] {
    return this.sql.all<SessionRow>('SELECT * FROM sessions').map(toState);
  }

  persistentCount(): number {
    return this.sql.first<{ n: number }>('SELECT count(*) AS n FROM sessions WHERE expiry_interval > 0')!.n;
  }

  /** One row read: the gauge the table's triggers keep (schema.ts). */
  awayCount(): number {
    return gauge(this.sql, 'away');
  }

  subscriptions(clientId: string): StoredSubscription[] {
    return this.sql.all<{ options: string }>('SELECT options FROM subscriptions WHERE client_id = ?', clientId)
      .map((r) => fromJson<StoredSubscription>(r.options)!);
  }

  allSubscriptions(): Array<[string, StoredSubscription]> {
    return this.sql.all<{ client_id: string; options: string }>('SELECT client_id, options FROM subscriptions')
      .map((r) => [r.client_id, fromJson<StoredSubscription>(r.options)!]);
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.sql.run('INSERT OR REPLACE INTO subscriptions (client_id, topic_filter, options) VALUES (?, ?, ?)',
      clientId, subscription.topicFilter, toJson(subscription));
  }

  deleteSubscription(clientId: string, topicFilter: string): boolean {
    return this.sql.run('DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?', clientId, topicFilter) > 0;
  }

  enqueue(clientId: string, entry: Omit<OutboundMessage, 'seq'>): number {
    this.seq ??= this.sql.first<{ seq: number | null }>('SELECT max(seq) AS seq FROM outbound')!.seq ?? 0;
    const seq = ++this.seq;
    this.sql.run(`INSERT INTO outbound ${outboundColumns}`, ...outboundValues(clientId, seq, entry));
    this.outboundChange++;
    return seq;
  }

  outbound(clientId: string): OutboundMessage[] {
    return this.sql.all<OutboundRow>('SELECT * FROM outbound WHERE client_id = ? ORDER BY seq', clientId).map(toOutbound);
  }

  outboundEntry(clientId: string, seq: number): OutboundMessage | undefined {
    const row = this.sql.first<OutboundRow>('SELECT * FROM outbound WHERE client_id = ? AND seq = ?', clientId, seq);
    return row && toOutbound(row);
  }

  outboundCount(clientId: string): number {
    return this.sql.first<{ n: number }>('SELECT count(*) AS n FROM outbound WHERE client_id = ?', clientId)!.n;
  }

  /**
   * The outbound gauge: one row read, and one row written when messages came or went since the
   * last read. Kept by this store rather than by a trigger, which would double the rows written
   * per delivery; a crash loses the changes since the last read, so the gauge may drift by that.
   */
  outboundTotal(): number {
    const total = gauge(this.sql, 'outbound') + this.outboundChange;
    if (this.outboundChange) setGauge(this.sql, 'outbound', total);
    this.outboundChange = 0;
    return total;
  }

  updateOutbound(clientId: string, seq: number, change: Pick<OutboundMessage, 'packetId' | 'state'>): void {
    this.sql.run('UPDATE outbound SET packet_id = ?, state = ? WHERE client_id = ? AND seq = ?',
      change.packetId ?? null, change.state, clientId, seq);
  }

  deleteOutbound(clientId: string, seq: number): void {
    this.outboundChange -= this.sql.run('DELETE FROM outbound WHERE client_id = ? AND seq = ?', clientId, seq);
  }

  addIncoming(clientId: string, packetId: number): void {
    this.sql.run('INSERT OR IGNORE INTO incoming (client_id, packet_id) VALUES (?, ?)', clientId, packetId);
  }

  incoming(clientId: string): number[] {
    return this.sql.all<{ packet_id: number }>('SELECT packet_id FROM incoming WHERE client_id = ?', clientId).map((r) => r.packet_id);
  }

  hasIncoming(clientId: string, packetId: number): boolean {
    return !!this.sql.first('SELECT 1 AS x FROM incoming WHERE client_id = ? AND packet_id = ?', clientId, packetId);
  }

  deleteIncoming(clientId: string, packetId: number): void {
    this.sql.run('DELETE FROM incoming WHERE client_id = ? AND packet_id = ?', clientId, packetId);
  }
}

function toState(r: SessionRow): SessionState {
  const state: SessionState = { clientId: r.client_id, expiryInterval: r.expiry_interval };
  if (r.connection_id !== null) state.connectionId = r.connection_id;
  if (r.disconnected_at !== null) state.disconnectedAt = r.disconnected_at;
  const will = fromJson<StoredWill>(r.will);
  if (will) state.will = will;
  if (r.owner !== null) state.owner = r.owner;
  return state;
}

/** The columns of an outbound row (the `outbound` table, and the clean sessions' snapshots). */
export const outboundColumns = '(client_id, seq, state, packet_id, topic, payload, qos, retain, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

export function outboundValues(clientId: string, seq: number, entry: Omit<OutboundMessage, 'seq'>): unknown[] {
  const { message: m } = entry;
  const meta: OutboundMeta = {
    properties: m.properties, expiresAt: m.expiresAt, publisher: m.publisher, stamp: m.stamp, subscriptionIdentifiers: entry.subscriptionIdentifiers,
  };
  return [clientId, seq, entry.state, entry.packetId ?? null, m.topic, blob(m.payload), m.qos, m.retain ? 1 : 0, toJson(meta)];
}

export function toOutbound(r: OutboundRow): OutboundMessage {
  const meta = fromJson<OutboundMeta>(r.meta) ?? {};
  const message: Message = { topic: r.topic, payload: new Uint8Array(r.payload), qos: r.qos as Message['qos'], retain: r.retain === 1 };
  if (meta.properties) message.properties = meta.properties;
  if (meta.expiresAt !== undefined) message.expiresAt = meta.expiresAt;
  if (meta.publisher !== undefined) message.publisher = meta.publisher;
  if (meta.stamp !== undefined) message.stamp = meta.stamp;
  const entry: OutboundMessage = { seq: r.seq, message, state: r.state as OutboundMessage['state'] };
  if (r.packet_id !== null) entry.packetId = r.packet_id;
  if (meta.subscriptionIdentifiers) entry.subscriptionIdentifiers = meta.subscriptionIdentifiers;
  return entry;
}
