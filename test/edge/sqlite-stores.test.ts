// The shared store suite on the SQLite stores, inside workerd on a fresh Durable Object each.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRetainedStore } from '../../src/edge/sqlite/retained-store.ts';
import { SqliteSessionStore } from '../../src/edge/sqlite/session-store.ts';
import { SqliteFlowSnapshots } from '../../src/edge/sqlite/flow-snapshots.ts';
import { SqliteAttachments } from '../../src/edge/sqlite/placement.ts';
import { runStoreSuite } from '../conformance/stores.case.ts';

let n = 0;

runStoreSuite('sqlite', (body) =>
  runInDurableObject(env.BROKER.getByName(`stores-${++n}-${Date.now()}`), (_instance, state) => {
    const sql = new Sql(state.storage.sql);
    migrate(sql);
    body({ sessions: new SqliteSessionStore(sql), retained: new SqliteRetainedStore(sql) });
  }),
);

describe('migrate', () => {
  it('adds the owner column to a sessions table made before it existed, and keeps its rows', () =>
    runInDurableObject(env.BROKER.getByName(`migrate-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      sql.run('DROP TABLE IF EXISTS sessions');
      sql.run('CREATE TABLE sessions (client_id TEXT PRIMARY KEY, expiry_interval INTEGER NOT NULL, connection_id TEXT, disconnected_at INTEGER, will TEXT)');
      sql.run('INSERT INTO sessions (client_id, expiry_interval) VALUES (?, ?)', 'old', 60);
      migrate(sql);
      migrate(sql); // twice: nothing more happens
      const store = new SqliteSessionStore(sql);
      expect(store.get('old')).toEqual({ clientId: 'old', expiryInterval: 60 });
      store.put({ clientId: 'old', expiryInterval: 60, owner: 'jwt:meter-1' });
      expect(store.get('old')?.owner).toBe('jwt:meter-1');
    }));
});

describe('SqliteAttachments', () => {
  it('keeps the count of attachments holding a new persistent session, across a restart', () =>
    runInDurableObject(env.BROKER.getByName(`attachments-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      migrate(sql);
      const attachments = new SqliteAttachments(sql);
      attachments.set('a', { gateway: 0, connectionId: 'c1', counted: true });
      attachments.set('b', { gateway: 1, connectionId: 'c2', owner: 'jwt:b', counted: true });
      attachments.set('c', { gateway: 1, connectionId: 'c3' });
      attachments.set('a', { gateway: 1, connectionId: 'c4', counted: true }); // a takeover: still one
      attachments.set('b', { gateway: 1, connectionId: 'c5' }); // resumed from a session held here
      expect(attachments.counted()).toBe(1);
      const restarted = new SqliteAttachments(sql);
      expect(restarted.counted()).toBe(1);
      expect(restarted.get('a')).toEqual({ gateway: 1, connectionId: 'c4', counted: true });
      expect(restarted.get('b')).toEqual({ gateway: 1, connectionId: 'c5' });
      restarted.delete('a');
      restarted.delete('a');
      expect([restarted.counted(), new SqliteAttachments(sql).counted()]).toEqual([0, 0]);
    }));

  it('reads an attachments table made before the owner and counted columns, which migrate adds', () =>
    runInDurableObject(env.BROKER.getByName(`attachments-old-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      sql.run('DROP TABLE IF EXISTS attachments');
      sql.run('CREATE TABLE attachments (client_id TEXT PRIMARY KEY, gateway INTEGER NOT NULL, connection_id TEXT NOT NULL) WITHOUT ROWID');
      sql.run('INSERT INTO attachments (client_id, gateway, connection_id) VALUES (?, ?, ?)', 'old', 2, 'c9');
      migrate(sql);
      const attachments = new SqliteAttachments(sql);
      expect([attachments.get('old'), attachments.counted()]).toEqual([{ gateway: 2, connectionId: 'c9' }, 0]);
    }));
});

describe('SqliteFlowSnapshots', () => {
  it('replaces a client\'s snapshot whole, reads it back in order with every field, and deletes it', () =>
    runInDurableObject(env.BROKER.getByName(`flows-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      migrate(sql);
      const snapshots = new SqliteFlowSnapshots(sql);
      const payload = new Uint8Array([1, 2, 3]);
      const first = { seq: 4, message: { topic: 'a', payload, qos: 2 as const, retain: true, expiresAt: 99, publisher: 'p', properties: { contentType: 'x' } }, subscriptionIdentifiers: [5], packetId: 7, state: 'released' as const };
      const second = { seq: 9, message: { topic: 'b', payload, qos: 1 as const, retain: false }, state: 'queued' as const };
      snapshots.save('c', [first, second], [3, 4]);
      snapshots.save('other', [second], []);
      expect(snapshots.load('c')).toEqual({ outbound: [first, second], incoming: [3, 4] });
      snapshots.save('c', [second], []);
      expect(snapshots.load('c')).toEqual({ outbound: [second], incoming: [] });
      snapshots.delete('c');
      expect(snapshots.load('c')).toEqual({ outbound: [], incoming: [] });
      expect(snapshots.load('other').outbound).toHaveLength(1);
      // more rows than one INSERT takes (11), and many QoS 2 ids
      const many = Array.from({ length: 30 }, (_, i) => ({ ...second, seq: 100 + i, message: { ...second.message, topic: `m/${i}` } }));
      const ids = Array.from({ length: 30 }, (_, i) => i + 1);
      snapshots.save('c', many, ids);
      expect(snapshots.load('c')).toEqual({ outbound: many, incoming: ids });
    }));
});
