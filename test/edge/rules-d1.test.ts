// The D1 action against the local D1 binding: the rows a column mapping makes, in seq order, one
// batch per delivery; identifiers checked strictly; replays ignored with a seq key, or not.
import { beforeAll, describe, expect, it } from 'vitest';
import { d1Action } from '../../src/rules/actions/d1.ts';
import { actionContext, ruleMessage, workerEnv } from './rule-messages.ts';

const db = () => workerEnv.RULES_DB as D1Database;
let n = 0;
const table = () => `readings_${++n}`;

async function create(name: string, unique = false): Promise<void> {
  await db().prepare(`CREATE TABLE ${name} (seq INTEGER, topic TEXT, device TEXT, temp REAL, at INTEGER, ok INTEGER, raw, extra TEXT${unique ? ', UNIQUE (topic, seq)' : ''})`).run();
}
const rows = async (name: string) => (await db().prepare(`SELECT * FROM ${name} ORDER BY rowid`).all()).results;

const columns = { seq: 'seq', topic: 'topic', device: 'clientId', temp: 'value.temperature', at: 'receivedAt', ok: 'value.ok', raw: 'payload', extra: 'value.meta' };
const config = (name: string, extra: Record<string, unknown> = {}) => d1Action.parse({ kind: 'd1', binding: 'RULES_DB', table: name, columns, ...extra }, workerEnv);

describe('d1 action: configuration', () => {
  it('refuses a missing binding, one that is not a database, and unknown fields', () => {
    expect(() => d1Action.parse({ kind: 'd1', binding: 'NOPE', table: 't', columns }, workerEnv)).toThrow(/NOPE: this Worker has no such binding/);
    expect(() => d1Action.parse({ kind: 'd1', binding: 'RULES_ARCHIVE', table: 't', columns }, workerEnv)).toThrow(/RULES_ARCHIVE is not a D1 database/);
    expect(() => config('t', { where: 'x' })).toThrow(/unknown field where/);
  });

  it('refuses table and column names that could carry SQL, and field paths it does not know', () => {
    for (const bad of ['t; DROP TABLE x', 't"', 'a.b', '1t', '', 'sqlite_master', 'x'.repeat(65), 42]) {
      expect(() => config(bad as string)).toThrow(/table .* must be 1 to 64 of A-Z a-z 0-9 _/);
    }
    expect(() => d1Action.parse({ kind: 'd1', binding: 'RULES_DB', table: 't', columns: { 'a") VALUES (1); --': 'topic' } }, workerEnv)).toThrow(/column .* must be/);
    expect(() => config('t', { columns: { a: 'value.x y' } })).toThrow(/columns.a: "value.x y" is not a field path/);
    expect(() => config('t', { columns: { a: 'password' } })).toThrow(/is not a field path/);
    expect(() => config('t', { columns: {} })).toThrow(/columns must be an object/);
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`c${i}`, 'topic']));
    expect(() => config('t', { columns: many })).toThrow(/more than the 100 a D1 table has/);
  });

  it('builds one quoted INSERT; onConflict ignore or replace needs a column from seq', () => {
    expect(config('t').sql).toBe('INSERT INTO "t" ("seq", "topic", "device", "temp", "at", "ok", "raw", "extra") VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    expect(config('t', { onConflict: 'ignore' }).sql).toMatch(/^INSERT OR IGNORE INTO "t"/);
    expect(config('t', { onConflict: 'replace' }).sql).toMatch(/^INSERT OR REPLACE INTO "t"/);
    expect(() => config('t', { onConflict: 'ignore', columns: { topic: 'topic' } })).toThrow(/needs a column mapped from seq/);
    expect(() => config('t', { onConflict: 'upsert' })).toThrow(/onConflict must be/);
  });

  it('bounds a batch by the Free plan\'s 50 queries per invocation', () => {
    expect(d1Action.limits(config('t'))).toEqual({ count: 50, bytes: 1_000_000 });
  });
});

describe('d1 action: delivery', () => {
  beforeAll(() => db().prepare('SELECT 1').run());

  it('inserts one row per message with the mapped values, in seq order', async () => {
    const name = table();
    await create(name);
    const batch = [
      ruleMessage(1, 'sensors/a', '{"temperature":21.5,"ok":true,"meta":{"fw":"1.2"}}', { clientId: 'dev-a' }),
      ruleMessage(2, 'sensors/b', '{"temperature":-3}'),
      ruleMessage(3, 'sensors/c', new Uint8Array([0xff, 0xfe])),
    ];
    await d1Action.deliver(config(name), batch, actionContext('to-d1'));
    const got = await rows(name);
    expect(got).toEqual([
      { seq: 1, topic: 'sensors/a', device: 'dev-a', temp: 21.5, at: batch[0].receivedAt, ok: 1, raw: '{"temperature":21.5,"ok":true,"meta":{"fw":"1.2"}}', extra: '{"fw":"1.2"}' },
      { seq: 2, topic: 'sensors/b', device: null, temp: -3, at: batch[1].receivedAt, ok: null, raw: '{"temperature":-3}', extra: null },
      { seq: 3, topic: 'sensors/c', device: null, temp: null, at: batch[2].receivedAt, ok: null, raw: [0xff, 0xfe], extra: null },
    ]);
  });

  it('a full batch of 50 lands in order', async () => {
    const name = table();
    await create(name);
    const batch = Array.from({ length: 50 }, (_, i) => ruleMessage(i + 1, 'a', `{"temperature":${i}}`));
    await d1Action.deliver(config(name), batch, actionContext('r'));
    expect((await rows(name)).map((r) => r.seq)).toEqual(batch.map((m) => m.seq));
  });

  it('a replayed batch inserts again without a key; with onConflict ignore and UNIQUE (topic, seq) it does not', async () => {
    const plain = table();
    await create(plain);
    const batch = [ruleMessage(1, 'a', '{"temperature":1}'), ruleMessage(2, 'a', '{"temperature":2}')];
    await d1Action.deliver(config(plain), batch, actionContext('r'));
    await d1Action.deliver(config(plain), batch, actionContext('r'));
    expect((await rows(plain)).map((r) => r.seq)).toEqual([1, 2, 1, 2]);

    const keyed = table();
    await create(keyed, true);
    await d1Action.deliver(config(keyed, { onConflict: 'ignore' }), batch, actionContext('r'));
    await d1Action.deliver(config(keyed, { onConflict: 'ignore' }), [...batch, ruleMessage(3, 'a', '{"temperature":3}')], actionContext('r'));
    expect((await rows(keyed)).map((r) => [r.seq, r.temp])).toEqual([[1, 1], [2, 2], [3, 3]]);
  });

  it('a batch lands whole or not at all: a failing row leaves no row of its batch', async () => {
    const name = table();
    await create(name, true);
    const batch = [ruleMessage(1, 'a', '{}'), ruleMessage(2, 'a', '{}'), ruleMessage(1, 'a', '{}')];
    await expect(d1Action.deliver(config(name), batch, actionContext('r'))).rejects.toThrow(/UNIQUE constraint failed/);
    expect(await rows(name)).toEqual([]);
  });

  it('a row larger than D1 allows fails the batch before anything is sent, naming its seq', async () => {
    const name = table();
    await create(name);
    const batch = [ruleMessage(1, 'a', '{}'), ruleMessage(2, 'a', 'x'.repeat(2_000_001))];
    await expect(d1Action.deliver(config(name), batch, actionContext('r'))).rejects.toThrow(/message seq 2 makes a \d+-byte row, more than the 2000000/);
    expect(await rows(name)).toEqual([]);
  });

  it('a missing table fails the batch with D1\'s error, so the engine retries and then dead-letters it', async () => {
    await expect(d1Action.deliver(config('no_such_table'), [ruleMessage(1, 'a', '{}')], actionContext('r'))).rejects.toThrow(/no such table/);
  });
});
