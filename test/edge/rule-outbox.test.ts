// The shared rule outbox on SQLite inside workerd: the rows a message costs whatever the number of
// rules it matches, and the upgrade of an object whose outbox has the earlier layout (a row per
// rule and message), which must drain after the upgrade with its order, tries and counters.
import { env } from 'cloudflare:workers';
import { runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { ActionKind } from '../../src/rules/action.ts';
import { RuleEngine } from '../../src/rules/engine.ts';
import { migrate } from '../../src/edge/sqlite/schema.ts';
import { blob, Sql } from '../../src/edge/sqlite/sql.ts';
import { SqliteRuleStore } from '../../src/edge/sqlite/rule-store.ts';
import type { Message } from '../../src/broker/ports.ts';

let n = 0;
const inObject = (body: (sql: Sql) => Promise<void>) =>
  runInDurableObject(env.BROKER.getByName(`rule-outbox-${++n}-${Date.now()}`), async (_instance, state) => {
    const sql = new Sql(state.storage.sql);
    migrate(sql);
    await body(sql);
  });

function engineOn(sql: Sql, failing: Set<string>, clock = { t: 1_000_000, now() { return this.t; } }) {
  const got = new Map<string, string[]>();
  const kind: ActionKind = {
    kind: 'test', parse: () => ({}), limits: () => ({ count: 100, bytes: 1 << 20 }),
    async deliver(_c, batch, context) {
      if (failing.has(context.rule)) throw new Error('down');
      got.set(context.rule, [...(got.get(context.rule) ?? []), ...batch.map((m) => new TextDecoder().decode(m.payload))]);
    },
  };
  const engine = new RuleEngine({
    store: new SqliteRuleStore(sql), kinds: new Map([['test', kind]]), env: {}, clock, context: { publish: async () => {}, fetch }, log: () => {},
  }, []);
  return { engine, got, clock };
}

const msg = (topic: string, payload: string): Message => ({ topic, payload: new TextEncoder().encode(payload), qos: 1, retain: false });
const count = (sql: Sql, table: string) => sql.first<{ n: number }>(`SELECT count(*) AS n FROM ${table}`)!.n;

describe('shared rule outbox (sqlite)', () => {
  it('writes one row per message accepted for 10 matching rules, and about one more per message drained', () => inObject(async (sql) => {
    const { engine, got } = engineOn(sql, new Set());
    for (let i = 0; i < 10; i++) engine.put({ name: `r${i}`, topic: 't/#', action: { kind: 'test' } });
    let before = sql.rowsWritten;
    for (let i = 0; i < 100; i++) expect(engine.accept(msg('t/x', String(i)), { clientId: 'c' }, true)).toBeUndefined();
    expect(sql.rowsWritten - before).toBe(100);
    before = sql.rowsWritten;
    await engine.drain();
    expect([...got.values()].every((p) => p.length === 100 && p[99] === '99')).toBe(true);
    expect(count(sql, 'rule_messages')).toBe(0);
    // 100 rows deleted and each rule's state saved once per batch (10 batches of 100)
    expect(sql.rowsWritten - before).toBeLessThanOrEqual(100 + 2 * 10);
  }));

  it('an outbox of the earlier layout drains after the upgrade, in order, with its tries, counters and dead letters', () => inObject(async (sql) => {
    sql.run(`CREATE TABLE rule_outbox (rule TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
      retain INTEGER NOT NULL, received_at INTEGER NOT NULL, attempts INTEGER NOT NULL, meta TEXT, PRIMARY KEY (rule, seq)) WITHOUT ROWID`);
    const legacy = (rule: string, seq: number, payload: string, attempts: number) =>
      sql.run('INSERT INTO rule_outbox VALUES (?, ?, ?, ?, 1, 0, ?, ?, ?)', rule, seq, 't', blob(new TextEncoder().encode(payload)), 1000 + seq, attempts, JSON.stringify({ clientId: 'dev' }));
    const putRule = (name: string) => sql.run('INSERT INTO rules VALUES (?, ?, 1, \'api\')', name,
      JSON.stringify({ name, topic: 't', action: { kind: 'test' }, tries: 3, backoff: { initialMs: 100, maxMs: 100 } }));
    putRule('a');
    putRule('b');
    // 'a' saved its state at seq 6 (5 and 6 counted as pending), then recorded 7; 3 is a dead letter
    sql.run('INSERT INTO rule_state VALUES (?, ?)', 'a', JSON.stringify({
      counters: { matched: 7, delivered: 4, retried: 2, deadLettered: 1, dropped: 0, refused: 0, lastSeq: 6 },
      pending: { count: 2, bytes: 4, oldest: 1005 }, dead: { count: 1, bytes: 3 },
    }));
    sql.run('INSERT INTO rule_dead_letters VALUES (?, 3, ?, ?, 1, 0, 1003, 3, NULL, 9, ?)', 'a', 't', blob(new TextEncoder().encode('a3')), 'old');
    [['a5', 2], ['a6', 1], ['a7', 0]].forEach(([p, tries], i) => legacy('a', 5 + i, p as string, tries as number));
    legacy('b', 1, 'b1', 0); // 'b' never saved a state
    legacy('b', 2, 'b2', 0);
    legacy('orphan', 1, 'o1', 0); // no definition: left where it is

    const failing = new Set(['a']);
    const { engine, got, clock } = engineOn(sql, failing);
    expect(count(sql, 'rule_messages')).toBe(5);
    expect(sql.all<{ rule: string }>('SELECT rule FROM rule_outbox')).toEqual([{ rule: 'orphan' }]);
    expect(engine.list().map((r) => [r.name, r.counters.matched, r.outbox.messages, r.deadLetters.messages])).toEqual([['a', 8, 3, 1], ['b', 2, 2, 0]]);
    await engine.drain(); // a's head had 2 tries: its third dead-letters it
    expect(got.get('b')).toEqual(['b1', 'b2']);
    const dead = engine.deadLetters('a', 0, 10)!;
    expect(dead.map((d) => [new TextDecoder().decode(d.payload), d.attempts, d.clientId])).toEqual([['a3', 3, undefined], ['a5', 3, 'dev']]);
    expect(dead[1].seq).toBeGreaterThan(7); // new seqs are above every seq used before
    failing.clear();
    clock.t += 100;
    await engine.drain();
    expect(got.get('a')).toEqual(['a6', 'a7']);
    expect(engine.list()[0]).toMatchObject({ counters: { matched: 8, delivered: 6, deadLettered: 2 }, outbox: { messages: 0 } });
    expect(count(sql, 'rule_messages')).toBe(0);
    engine.accept(msg('t', 'after'), undefined, true);
    await engine.drain();
    expect(got.get('a')).toEqual(['a6', 'a7', 'after']);
  }));

  it('drops the earlier table once it is empty, after reading a head that had tries', () => inObject(async (sql) => {
    sql.run(`CREATE TABLE rule_outbox (rule TEXT NOT NULL, seq INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
      retain INTEGER NOT NULL, received_at INTEGER NOT NULL, attempts INTEGER NOT NULL, meta TEXT, PRIMARY KEY (rule, seq)) WITHOUT ROWID`);
    sql.run('INSERT INTO rules VALUES (\'a\', ?, 1, \'api\')', JSON.stringify({ name: 'a', topic: 't', action: { kind: 'test' } }));
    // tried rows, then untried ones: reading the tries must leave no statement open, or the DROP is refused (SQLITE_LOCKED)
    for (const [seq, attempts] of [[1, 1], [2, 0], [3, 0], [4, 0]]) {
      sql.run('INSERT INTO rule_outbox VALUES (\'a\', ?, \'t\', ?, 0, 0, 1, ?, NULL)', seq, blob(new TextEncoder().encode(`x${seq}`)), attempts);
    }
    const { engine, got } = engineOn(sql, new Set());
    expect(sql.first('SELECT 1 AS x FROM sqlite_master WHERE name = \'rule_outbox\'')).toBeUndefined();
    await engine.drain();
    expect(got.get('a')).toEqual(['x1', 'x2', 'x3', 'x4']);
  }));
});
