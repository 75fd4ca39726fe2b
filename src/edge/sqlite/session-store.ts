// SessionStore on the object's SQLite: sessions, their subscriptions, outbound messages and
// received QoS 2 ids. Every call is one or two statements, whatever the number of messages it
// takes (an INSERT per 11 rows aside); nothing is cached here.
import type {
  Message, OutboundChange, RecognisedBounds, RecognisedIds, OutboundMessage, OutboundPlace, SessionState, SessionStore, SessionTimes, StoredSubscription, StoredWill,
} from '../../broker/index.ts';
import { entryBytes, mergeIds, noteId } from '../../broker/ports.ts';
import { gauge, setGauge } from './schema.ts';
import { blob, fromJson, toJson, type Sql } from './sql.ts';

type SessionRow = {
  client_id: string; expiry_interval: number; connection_id: string | null; disconnected_at: number | null; will: string | null; owner: string | null;
};
export type OutboundRow = {
  seq: number; state: string; packet_id: number | null; topic: string; payload: ArrayBuffer; qos: number; retain: number; meta: string | null;
};
type PlaceRow = { seq: number; state: string; packet_id: number | null; qos: number; bytes: number; stamp: number | null };
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
    for (const table of ['sessions', 'subscriptions', 'outbound', 'incoming', 'recognised']) {
      const deleted = this.sql.run(`DELETE FROM ${table} WHERE client_id = ?`, clientId);
      if (table === 'outbound') this.outboundChange -= deleted;
    }
  }

  list(): SessionState[] {
    return this.sql.all<SessionRow>('SELECT * FROM sessions').map(toState);
  }

  *times(): Generator<SessionTimes> {
    type Times = { client_id: string; expiry_interval: number; connection_id: string | null; disconnected_at: number | null; will_at: number | null };
    const query = "SELECT client_id, expiry_interval, connection_id, disconnected_at, json_extract(will, '$.at') AS will_at FROM sessions";
    for (const r of this.sql.each<Times>(query)) {
      yield {
        clientId: r.client_id, expiryInterval: r.expiry_interval, connectionId: r.connection_id ?? undefined,
        disconnectedAt: r.disconnected_at ?? undefined, willAt: r.will_at ?? undefined,
      };
    }
  }

  /** One row read: the gauge the table's triggers keep (schema.ts). */
  persistentCount(): number {
    return gauge(this.sql, 'persistent');
  }

  /** One row read: the gauge the table's triggers keep (schema.ts). */
  awayCount(): number {
    return gauge(this.sql, 'away');
  }

  subscriptions(clientId: string): StoredSubscription[] {
    return this.sql.all<{ options: string }>('SELECT options FROM subscriptions WHERE client_id = ?', clientId)
      .map((r) => fromJson<StoredSubscription>(r.options)!);
  }

  *allSubscriptions(): Generator<[string, StoredSubscription]> {
    for (const r of this.sql.each<{ client_id: string; options: string }>('SELECT client_id, options FROM subscriptions')) {
      yield [r.client_id, fromJson<StoredSubscription>(r.options)!];
    }
  }

  putSubscription(clientId: string, subscription: StoredSubscription): void {
    this.sql.run('INSERT OR REPLACE INTO subscriptions (client_id, topic_filter, options) VALUES (?, ?, ?)',
      clientId, subscription.topicFilter, toJson(subscription));
  }

  deleteSubscription(clientId: string, topicFilter: string): boolean {
    return this.sql.run('DELETE FROM subscriptions WHERE client_id = ? AND topic_filter = ?', clientId, topicFilter) > 0;
  }

  enqueue(clientId: string, entry: Omit<OutboundMessage, 'seq'>): number {
    return this.enqueueAll(clientId, [entry])[0];
  }

  /** One INSERT per `rowsPerInsert` entries. */
  enqueueAll(clientId: string, entries: ReadonlyArray<Omit<OutboundMessage, 'seq'>>): number[] {
    let seq = (this.seq ??= this.sql.first<{ seq: number | null }>('SELECT max(seq) AS seq FROM outbound')!.seq ?? 0);
    const seqs = entries.map(() => ++seq);
    insertOutbound(this.sql, 'outbound', clientId, entries.map((e, i) => ({ ...e, seq: seqs[i] })));
    this.seq = seq;
    this.outboundChange += entries.length;
    return seqs;
  }

  outbound(clientId: string): OutboundMessage[] {
    return this.sql.all<OutboundRow>('SELECT * FROM outbound WHERE client_id = ? ORDER BY seq', clientId).map(toOutbound);
  }

  outboundPage(clientId: string, after: number, maxBytes: number): { outbound: OutboundMessage[]; more: boolean } {
    const outbound: OutboundMessage[] = [];
    let bytes = 0;
    for (const row of this.sql.each<OutboundRow>('SELECT * FROM outbound WHERE client_id = ? AND seq > ? ORDER BY seq', clientId, after)) {
      const entry = toOutbound(row);
      const size = entryBytes(entry);
      if (outbound.length && bytes + size > maxBytes) return { outbound, more: true };
      outbound.push(entry);
      bytes += size;
    }
    return { outbound, more: false };
  }

  outboundPlaces(clientId: string, stamps = false): OutboundPlace[] {
    const stamp = stamps ? "json_extract(meta, '$.stamp')" : 'NULL';
    const sql = `SELECT seq, state, packet_id, qos, length(payload) AS bytes, ${stamp} AS stamp
      FROM outbound WHERE client_id = ? ORDER BY seq`;
    return this.sql.all<PlaceRow>(sql, clientId).map((r) => {
      const place: OutboundPlace = { seq: r.seq, state: r.state as OutboundPlace['state'], packetId: r.packet_id ?? undefined, qos: r.qos as OutboundPlace['qos'], bytes: r.bytes };
      if (r.stamp !== null) place.stamp = r.stamp;
      return place;
    });
  }

  outboundEntries(clientId: string, seqs: readonly number[]): OutboundMessage[] {
    if (!seqs.length) return [];
    return this.sql.all<OutboundRow>('SELECT * FROM outbound WHERE client_id = ? AND seq IN (SELECT value FROM json_each(?)) ORDER BY seq',
      clientId, JSON.stringify(seqs)).map(toOutbound);
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

  /**
   * One UPDATE, the changes bound as one JSON object { seq: [packetId, state] }: the rows are
   * found by key and each looks its change up in the object (a join with json_each would scan
   * the client's rows once per change).
   */
  updateOutbound(clientId: string, changes: readonly OutboundChange[]): void {
    if (!changes.length) return;
    this.sql.run(
      `UPDATE outbound SET packet_id = json_extract(?1, '$."' || seq || '"[0]'), state = json_extract(?1, '$."' || seq || '"[1]')
       WHERE client_id = ?2 AND seq IN (SELECT key FROM json_each(?1))`,
      JSON.stringify(Object.fromEntries(changes.map((c) => [c.seq, [c.packetId, c.state]]))), clientId,
    );
  }

  /** One DELETE, the seqs bound as one JSON array. */
  deleteOutbound(clientId: string, seqs: readonly number[]): void {
    if (!seqs.length) return;
    this.outboundChange -= this.sql.run('DELETE FROM outbound WHERE client_id = ? AND seq IN (SELECT value FROM json_each(?))', clientId, JSON.stringify(seqs));
  }

  /** One UPDATE: the rows change owner in place, nothing is read into memory. */
  moveOutbound(from: string, to: string): number {
    return this.sql.run('UPDATE outbound SET client_id = ? WHERE client_id = ?', to, from);
  }

  addIncoming(clientId: string, packetId: number, routing?: number): void {
    this.sql.run(
      'INSERT INTO incoming (client_id, packet_id, routing) VALUES (?, ?, ?) ON CONFLICT (client_id, packet_id) DO UPDATE SET routing = excluded.routing',
      clientId, packetId, routing ?? null,
    );
  }

  incoming(clientId: string): number[] {
    return this.sql.all<{ packet_id: number }>('SELECT packet_id FROM incoming WHERE client_id = ? AND routing IS NULL', clientId).map((r) => r.packet_id);
  }

  hasIncoming(clientId: string, packetId: number): boolean {
    return !!this.sql.first('SELECT 1 AS x FROM incoming WHERE client_id = ? AND packet_id = ? AND routing IS NULL', clientId, packetId);
  }

  routingId(clientId: string, packetId: number): number | undefined {
    return this.sql.first<{ routing: number | null }>('SELECT routing FROM incoming WHERE client_id = ? AND packet_id = ?', clientId, packetId)?.routing ?? undefined;
  }

  routing(clientId: string): Array<[number, number]> {
    return this.sql.all<{ packet_id: number; routing: number }>('SELECT packet_id, routing FROM incoming WHERE client_id = ? AND routing IS NOT NULL', clientId)
      .map((r) => [r.packet_id, r.routing]);
  }

  deleteIncoming(clientId: string, packetId: number): void {
    this.sql.run('DELETE FROM incoming WHERE client_id = ? AND packet_id = ?', clientId, packetId);
  }

  /**
   * One row read and, for a new id, one row written (the publisher's ids as a JSON array); a new
   * publisher also counts the session's rows, and past the bound deletes its least recent one.
   */
  recognise(clientId: string, publisher: string, id: number, bounds: RecognisedBounds, at: number, again = false): boolean {
    const row = this.sql.first<{ ids: string }>('SELECT ids FROM recognised WHERE client_id = ? AND publisher = ?', clientId, publisher);
    const ids = row ? (JSON.parse(row.ids) as number[]) : [];
    if (ids.includes(id)) return true;
    this.putRecognised(clientId, { publisher, ids: noteId(ids, id, bounds.window, again), at });
    if (!row) this.trimRecognised(clientId, bounds);
    return false;
  }

  recognised(clientId: string): RecognisedIds[] {
    return this.sql.all<{ publisher: string; ids: string; at: number }>('SELECT publisher, ids, at FROM recognised WHERE client_id = ?', clientId)
      .map((r) => ({ publisher: r.publisher, ids: JSON.parse(r.ids) as number[], at: r.at }));
  }

  addRecognised(clientId: string, rows: readonly RecognisedIds[], bounds: RecognisedBounds): void {
    if (!rows.length) return;
    const here = new Map(this.recognised(clientId).map((r) => [r.publisher, r]));
    for (const { publisher, ids, at } of rows) {
      const mine = here.get(publisher);
      this.putRecognised(clientId, { publisher, ids: mergeIds(mine?.ids ?? [], ids, bounds.window), at: Math.max(at, mine?.at ?? 0) });
    }
    this.trimRecognised(clientId, bounds);
  }

  private putRecognised(clientId: string, { publisher, ids, at }: RecognisedIds): void {
    this.sql.run(
      'INSERT INTO recognised (client_id, publisher, ids, at) VALUES (?, ?, ?, ?) ON CONFLICT (client_id, publisher) DO UPDATE SET ids = excluded.ids, at = excluded.at',
      clientId, publisher, JSON.stringify(ids), at,
    );
  }

  /** Forgets the publishers noted least recently beyond the bound. */
  private trimRecognised(clientId: string, bounds: RecognisedBounds): void {
    const { n } = this.sql.first<{ n: number }>('SELECT count(*) AS n FROM recognised WHERE client_id = ?', clientId)!;
    if (n <= bounds.publishers) return;
    this.sql.run(
      'DELETE FROM recognised WHERE client_id = ?1 AND publisher IN (SELECT publisher FROM recognised WHERE client_id = ?1 ORDER BY at, publisher LIMIT ?2)',
      clientId, n - bounds.publishers,
    );
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
const outboundColumns = '(client_id, seq, state, packet_id, topic, payload, qos, retain, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** Rows of one INSERT: 9 bindings a row, and a Durable Object binds at most 100 per statement (Cloudflare: Durable Objects limits). */
const rowsPerInsert = 11;
const inserts: string[] = [];

/** Writes outbound rows to `table` (`outbound`, or the clean sessions' snapshots), `rowsPerInsert` per statement. */
export function insertOutbound(sql: Sql, table: string, clientId: string, entries: readonly OutboundMessage[]): void {
  for (let i = 0; i < entries.length; i += rowsPerInsert) {
    const rows = entries.slice(i, i + rowsPerInsert);
    inserts[rows.length] ??= outboundColumns + ', (?, ?, ?, ?, ?, ?, ?, ?, ?)'.repeat(rows.length - 1);
    sql.run(`INSERT INTO ${table} ${inserts[rows.length]}`, ...rows.flatMap((e) => outboundValues(clientId, e.seq, e)));
  }
}

function outboundValues(clientId: string, seq: number, entry: Omit<OutboundMessage, 'seq'>): unknown[] {
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
