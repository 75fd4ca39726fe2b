// The shared store suite on the SQLite stores, inside workerd on a fresh Durable Object each.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRetainedStore } from '../../src/edge/sqlite/retained-store.ts';
import { SqliteSessionStore } from '../../src/edge/sqlite/session-store.ts';
import { SqliteFlowSnapshots } from '../../src/edge/sqlite/flow-snapshots.ts';
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
