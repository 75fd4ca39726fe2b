// The R2 action against the local R2 binding: one NDJSON object per topic prefix and window,
// deterministic keys (a replayed batch overwrites), and hold() waiting for the window to close.
import { describe, expect, it } from 'vitest';
import { objectKey, r2Action, type R2Config } from '../../src/rules/actions/r2.ts';
import { actionContext, ruleMessage, workerEnv } from './rule-messages.ts';

const bucket = () => workerEnv.RULES_ARCHIVE as R2Bucket;
let n = 0;
const uniquePrefix = () => `t${++n}-${Date.now()}/`;
const config = (extra: Record<string, unknown> = {}) => r2Action.parse({ kind: 'r2', binding: 'RULES_ARCHIVE', prefix: uniquePrefix(), ...extra }, workerEnv);

async function objects(prefix: string): Promise<Map<string, string>> {
  const listed = await bucket().list({ prefix });
  const out = new Map<string, string>();
  for (const o of listed.objects) out.set(o.key, await (await bucket().get(o.key))!.text());
  return out;
}
const lines = (body: string) => body.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
const at = (h: number, m: number, s = 0) => Date.UTC(2026, 10, 29, h, m, s);

describe('r2 action: configuration', () => {
  it('refuses a missing binding, one that is not a bucket, a bad prefix, a window that does not divide a day', () => {
    expect(() => r2Action.parse({ kind: 'r2', binding: 'NOPE' }, workerEnv)).toThrow(/NOPE: this Worker has no such binding/);
    expect(() => r2Action.parse({ kind: 'r2', binding: 'RULES_QUEUE' }, workerEnv)).toThrow(/RULES_QUEUE is not a R2 bucket/);
    expect(() => config({ prefix: 'a b' })).toThrow(/prefix must be/);
    expect(() => config({ windowMinutes: 7 })).toThrow(/windowMinutes must divide a day/);
    expect(() => config({ windowMinutes: 0 })).toThrow(/windowMinutes must be a whole number from 1 to 1440/);
    expect(() => config({ topicLevels: -1 })).toThrow(/topicLevels/);
    expect(() => config({ objectBytes: 10 })).toThrow(/objectBytes/);
    expect(() => config({ bucket: 'x' })).toThrow(/unknown field bucket/);
    expect(r2Action.parse({ kind: 'r2', binding: 'RULES_ARCHIVE' }, workerEnv))
      .toEqual({ binding: 'RULES_ARCHIVE', prefix: '', topicLevels: 1, windowMinutes: 60, objectBytes: 16 * 1024 * 1024 });
  });

  it('holds until the oldest message\'s window closes, or an object\'s worth of bytes waits', () => {
    const c = config({ windowMinutes: 15, objectBytes: 1024 });
    expect(r2Action.hold!(c, at(14, 7), { count: 3, bytes: 100 }, at(14, 10))).toBe(5 * 60_000);
    expect(r2Action.hold!(c, at(14, 7), { count: 3, bytes: 100 }, at(14, 15))).toBe(0);
    expect(r2Action.hold!(c, at(14, 7), { count: 3, bytes: 100 }, at(15, 0))).toBe(0);
    expect(r2Action.hold!(c, at(14, 7), { count: 30, bytes: 1024 }, at(14, 10))).toBe(0);
    expect(r2Action.limits(c)).toEqual({ count: 100_000, bytes: 1024 });
  });
});

describe('r2 action: delivery', () => {
  it('writes one NDJSON object per topic prefix and window, lines in seq order', async () => {
    const c = config({ windowMinutes: 60, topicLevels: 2 });
    const batch = [
      ruleMessage(1, 'plant/line1/temp', '{"t":1}', { receivedAt: at(14, 1), clientId: 'a' }),
      ruleMessage(2, 'plant/line2/temp', '{"t":2}', { receivedAt: at(14, 2) }),
      ruleMessage(3, 'plant/line1/hum', 'raw', { receivedAt: at(14, 59, 59) }),
      ruleMessage(4, 'plant/line1/temp', '{"t":4}', { receivedAt: at(15, 0) }),
      ruleMessage(5, 'plant/line1/temp', new Uint8Array([0xc3]), { receivedAt: at(14, 30) }),
    ];
    await r2Action.deliver(c, batch, actionContext('archive'));
    const got = await objects(c.prefix);
    const keys = [...got.keys()].sort();
    expect(keys).toEqual([
      `${c.prefix}archive/plant/line1/2026-11-29/1400Z-0000000000000001-${keys[0].slice(-15, -7)}.ndjson`,
      `${c.prefix}archive/plant/line1/2026-11-29/1500Z-0000000000000004-${keys[1].slice(-15, -7)}.ndjson`,
      `${c.prefix}archive/plant/line2/2026-11-29/1400Z-0000000000000002-${keys[2].slice(-15, -7)}.ndjson`,
    ]);
    expect(keys.every((k) => /-[0-9a-f]{8}\.ndjson$/.test(k))).toBe(true);
    expect(lines(got.get(keys[0])!)).toEqual([
      { seq: 1, topic: 'plant/line1/temp', payload: '{"t":1}', encoding: 'utf8', qos: 1, retain: false, receivedAt: '2026-11-29T14:01:00.000Z', clientId: 'a', value: { t: 1 } },
      { seq: 3, topic: 'plant/line1/hum', payload: 'raw', encoding: 'utf8', qos: 1, retain: false, receivedAt: '2026-11-29T14:59:59.000Z' },
      { seq: 5, topic: 'plant/line1/temp', payload: 'ww==', encoding: 'base64', qos: 1, retain: false, receivedAt: '2026-11-29T14:30:00.000Z' },
    ]);
    expect(lines(got.get(keys[1])!).map((l) => l.seq)).toEqual([4]);
    expect(lines(got.get(keys[2])!).map((l) => l.seq)).toEqual([2]);
    expect((await bucket().head(keys[0]))!.httpMetadata?.contentType).toBe('application/x-ndjson');
  });

  it('a day of telemetry every 10 s from 5 devices is 24 objects with hourly windows', async () => {
    const c = config({ topicLevels: 1 });
    const batch = Array.from({ length: 8640 * 5 }, (_, i) => ruleMessage(i + 1, `farm/dev${i % 5}`, `{"v":${i}}`, { receivedAt: at(0, 0) + Math.floor(i / 5) * 10_000 }));
    await r2Action.deliver(c, batch, actionContext('day'));
    const got = await objects(c.prefix);
    expect(got.size).toBe(24);
    expect([...got.values()].reduce((sum, body) => sum + lines(body).length, 0)).toBe(batch.length);
    for (const body of got.values()) {
      const seqs = lines(body).map((l) => l.seq as number);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('a batch delivered again overwrites its objects instead of adding new ones; a longer retry keeps every line', async () => {
    const c = config();
    const batch = [ruleMessage(10, 'a/x', '1'), ruleMessage(11, 'a/y', '2')];
    await r2Action.deliver(c, batch, actionContext('replay'));
    await r2Action.deliver(c, batch, actionContext('replay'));
    let got = await objects(c.prefix);
    expect(got.size).toBe(1);
    expect(lines([...got.values()][0]).map((l) => l.seq)).toEqual([10, 11]);
    await r2Action.deliver(c, [...batch, ruleMessage(12, 'a/z', '3')], actionContext('replay'));
    got = await objects(c.prefix);
    expect(got.size).toBe(1);
    expect(lines([...got.values()][0]).map((l) => l.seq)).toEqual([10, 11, 12]);
  });

  it('outboxes numbering alike (another object\'s rule) write apart: the key carries a tag of the first message', async () => {
    const c = config();
    const first = ruleMessage(1, 'a/from-shard-0', '1');
    const other = ruleMessage(1, 'a/from-shard-1', '1');
    expect(await objectKey(c, 'r', first)).not.toBe(await objectKey(c, 'r', other));
    await r2Action.deliver(c, [first], actionContext('r'));
    await r2Action.deliver(c, [other], actionContext('r'));
    expect((await objects(c.prefix)).size).toBe(2);
  });

  it('a message larger than objectBytes still lands, whole, in its own object', async () => {
    const c = config({ objectBytes: 1024 });
    const big = 'b'.repeat(5_000);
    await r2Action.deliver(c, [ruleMessage(1, 'big', big)], actionContext('big'));
    const got = await objects(c.prefix);
    expect(lines([...got.values()][0])[0].payload).toBe(big);
  });

  it('keys: no topic levels, an empty level, a level that needs escaping', async () => {
    const base = { binding: 'RULES_ARCHIVE', prefix: 'p/', windowMinutes: 60, objectBytes: 1024 } as R2Config;
    const m = ruleMessage(1, '/a b/c', '1', { receivedAt: at(9, 5) });
    expect(await objectKey({ ...base, topicLevels: 0 }, 'rule 1', m)).toMatch(/^p\/rule%201\/2026-11-29\/0900Z-0000000000000001-[0-9a-f]{8}\.ndjson$/);
    expect(await objectKey({ ...base, topicLevels: 2 }, 'r', m)).toMatch(/^p\/r\/%00\/a%20b\/2026-11-29\/0900Z-/);
  });

  it('a failing put fails the batch, so the engine retries it', async () => {
    const failing = { put: () => Promise.reject(new Error('R2 put failed')), get: () => null, list: () => null };
    const context = actionContext('r', { ...workerEnv, RULES_ARCHIVE: failing });
    await expect(r2Action.deliver(config(), [ruleMessage(1, 't', '1')], context)).rejects.toThrow(/R2 put failed/);
  });
});
