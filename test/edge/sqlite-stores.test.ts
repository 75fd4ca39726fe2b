// The shared store suite on the SQLite stores, inside workerd on a fresh Durable Object each.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
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
