// The rule store suite on SQLite, inside workerd on a fresh Durable Object each.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRuleStore } from '../../src/edge/sqlite/rule-store.ts';
import { runRuleStoreSuite } from '../conformance/rule-store.case.ts';

let n = 0;

runRuleStoreSuite('sqlite', (body) =>
  runInDurableObject(env.BROKER.getByName(`rule-store-${++n}-${Date.now()}`), (_instance, state) => {
    const sql = new Sql(state.storage.sql);
    migrate(sql);
    body(new SqliteRuleStore(sql));
  }),
);
