// An object made by the code before the QoS 2 message ids (b6ec9ea): its incoming table
// has no routing column and it has no recognised table. migrate adds both; the received ids it
// held stay received (a PUBREL finds them), and the new records work.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteSessionStore } from '../../src/edge/sqlite/session-store.ts';

describe('migrate, incoming without routing', () => {
  it('keeps an old object\'s received QoS 2 ids received, and adds routing records and recognised ids', () =>
    runInDurableObject(env.BROKER.getByName(`incoming-migrate-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      sql.run('DROP TABLE IF EXISTS incoming');
      sql.run('DROP TABLE IF EXISTS recognised');
      // the table as b6ec9ea~1 made it
      sql.run('CREATE TABLE incoming (client_id TEXT NOT NULL, packet_id INTEGER NOT NULL, PRIMARY KEY (client_id, packet_id)) WITHOUT ROWID');
      sql.run('INSERT INTO incoming (client_id, packet_id) VALUES (?, ?), (?, ?)', 'pub', 7, 'pub', 8);
      migrate(sql);
      migrate(sql);
      const store = new SqliteSessionStore(sql);
      expect(store.incoming('pub').sort()).toEqual([7, 8]);
      expect(store.hasIncoming('pub', 7)).toBe(true);
      expect(store.routingId('pub', 7)).toBeUndefined();
      expect(store.routing('pub')).toEqual([]);
      store.addIncoming('pub', 9, 2 ** 53 - 1); // the largest id messageId() can give
      expect(store.routingId('pub', 9)).toBe(2 ** 53 - 1);
      expect(store.hasIncoming('pub', 9)).toBe(false);
      store.addIncoming('pub', 9);
      expect(store.hasIncoming('pub', 9)).toBe(true);
      const bounds = { window: 64, publishers: 1024 };
      expect(store.recognise('sub', 'pub', 2 ** 53 - 1, bounds, 1)).toBe(false);
      expect(store.recognise('sub', 'pub', 2 ** 53 - 1, bounds, 2)).toBe(true);
      store.deleteIncoming('pub', 7);
      expect(store.incoming('pub').sort()).toEqual([8, 9]);
    }));
});
