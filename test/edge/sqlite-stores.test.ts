// The shared store suite on the SQLite stores, inside workerd on a fresh Durable Object each.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRetainedStore } from '../../src/edge/sqlite/retained-store.ts';
import { SqliteSessionStore } from '../../src/edge/sqlite/session-store.ts';
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

