// Gauges are counts kept on write (SQLite triggers; the outbound count by the session store), not
// scans: a stats or $SYS refresh reads the same few rows whether the namespace holds ten retained
// messages and sessions or thousands.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { BrokerObject } from '../../src/edge/broker-object.ts';
import type { Observed } from '../../src/broker/observe/observed.ts';
import { sysTable } from '../../src/broker/observe/sys-topics.ts';
import { statsOf } from '../../src/edge/api/stats.ts';
import type { Meter } from '../../src/edge/meter.ts';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRetainedStore } from '../../src/edge/sqlite/retained-store.ts';
import { SqliteSessionStore } from '../../src/edge/sqlite/session-store.ts';

let n = 0;
const bytes = (s: string) => new TextEncoder().encode(s);

/** Fills a namespace's object: retained messages, sessions (half away) and their queued messages. */
function fill(sql: Sql, retained: number, sessions: number): void {
  const r = new SqliteRetainedStore(sql);
  const s = new SqliteSessionStore(sql);
  for (let i = 0; i < retained; i++) r.set({ topic: `fill/${i}`, payload: bytes('x'), qos: 0, retain: true });
  for (let i = 0; i < sessions; i++) {
    s.put({ clientId: `fill-${i}`, expiryInterval: 3600, ...(i % 2 ? { connectionId: `gone-${i}` } : {}) });
    s.enqueue(`fill-${i}`, { message: { topic: 'q', payload: bytes('m'), qos: 1, retain: false }, state: 'queued' });
  }
  s.outboundTotal(); // this store's changes to the outbound count, written where the broker's store reads it
}

/** Rows one stats read and one $SYS refresh (every figure of the table) read in a namespace holding this much. */
async function rowsPerRefresh(retained: number, sessions: number) {
  const stub = env.BROKER.getByName(`gauges-${++n}-${Date.now()}`);
  return runInDurableObject(stub, (instance: BrokerObject) => {
    const { observed, meter } = instance as unknown as { observed: Observed; meter: Meter };
    fill((meter as unknown as { sql: Sql }).sql, retained, sessions);
    const rowsRead = () => meter.read(Date.now()).rowsRead;
    let before = rowsRead();
    const stats = statsOf('gauges', observed, meter, 0, Date.now());
    const statsRows = rowsRead() - before;
    before = rowsRead();
    const sys = Object.fromEntries(sysTable.map(([topic, figure]) => [topic, figure(observed.broker, observed.metrics.counters, Date.now())]));
    return { statsRows, sysRows: rowsRead() - before, stats, sys };
  });
}

describe('gauges', () => {
  it('a stats read and a $SYS refresh read 3 rows, with 5 or 3,000 retained messages and 2 or 400 sessions', async () => {
    const small = await rowsPerRefresh(5, 2);
    const large = await rowsPerRefresh(3_000, 400);
    expect(large.stats).toMatchObject({ retained: 3_000, queued: 400, clients: { connected: 0, disconnected: 200 } });
    expect(large.sys).toMatchObject({
      '$SYS/broker/retained messages/count': 3_000, '$SYS/broker/clients/disconnected': 200, '$SYS/broker/store/messages/count': 400,
    });
    // one row per gauge: retained, away sessions, outbound messages
    expect([small.statsRows, large.statsRows]).toEqual([3, 3]);
    expect(large.sysRows).toBe(small.sysRows);
    expect(large.sysRows).toBe(4); // clients/total reads the away gauge again
  });

  it('the persistent-session quota reads one row per check, with 2 or 400 sessions', async () => {
    for (const count of [2, 400]) {
      await runInDurableObject(env.BROKER.getByName(`gauges-persistent-${count}-${Date.now()}`), (instance: BrokerObject) => {
        const { meter } = instance as unknown as { meter: Meter };
        const sql = (meter as unknown as { sql: Sql }).sql;
        fill(sql, 0, count);
        const sessions = new SqliteSessionStore(sql);
        const before = meter.read(Date.now()).rowsRead;
        expect(sessions.persistentCount()).toBe(count);
        expect(meter.read(Date.now()).rowsRead - before).toBe(1);
      });
    }
  });

  it('keeping the outbound count costs no row per message: a delivery is one row written and one deleted', async () => {
    await runInDurableObject(env.BROKER.getByName(`gauges-cost-${Date.now()}`), (instance: BrokerObject) => {
      const { meter } = instance as unknown as { meter: Meter };
      const sql = (meter as unknown as { sql: Sql }).sql;
      const sessions = new SqliteSessionStore(sql);
      const before = sessions.outboundTotal();
      const written = () => meter.read(Date.now()).rowsWritten;
      const start = written();
      for (let i = 0; i < 50; i++) {
        const seq = sessions.enqueue('cost', { message: { topic: 'q', payload: bytes('m'), qos: 1, retain: false }, state: 'queued' });
        sessions.deleteOutbound('cost', [seq]);
      }
      sessions.enqueue('cost', { message: { topic: 'q', payload: bytes('m'), qos: 1, retain: false }, state: 'queued' });
      expect(written() - start).toBe(101);
      expect(sessions.outboundTotal()).toBe(before + 1); // and one row written for the count, when read
      expect(written() - start).toBe(102);
    });
  });

  it('counts rows stored before the gauges existed once, then keeps them through the triggers', async () => {
    await runInDurableObject(env.BROKER.getByName(`gauges-old-${Date.now()}`), (_instance, state) => {
      const sql = new Sql(state.storage.sql);
      migrate(sql);
      fill(sql, 7, 4);
      // an object from before this version: no gauges table, no triggers
      for (const name of ['retained', 'outbound', 'away', 'persistent']) for (const i of [0, 1, 2]) sql.run(`DROP TRIGGER IF EXISTS gauge_${name}_${i}`);
      sql.run('DROP TABLE gauges');
      new SqliteRetainedStore(sql).set({ topic: 'fill/new', payload: bytes('x'), qos: 0, retain: true });
      migrate(sql);
      const retained = new SqliteRetainedStore(sql);
      const sessions = new SqliteSessionStore(sql);
      expect([retained.count(), sessions.awayCount(), sessions.outboundTotal(), sessions.persistentCount()]).toEqual([8, 2, 4, 4]);
      migrate(sql); // a later start counts nothing again
      retained.delete('fill/0');
      sessions.put({ clientId: 'fill-1', expiryInterval: 3600 });
      sessions.put({ clientId: 'fill-2', expiryInterval: 0 });
      expect([retained.count(), sessions.awayCount(), sessions.persistentCount()]).toEqual([7, 3, 3]);
      const truth = sql.first<{ n: number }>('SELECT count(*) AS n FROM retained')!.n;
      expect(truth).toBe(7);
    });
  });
});
