// The rule engine with the binding actions on workerd's local D1 and R2 (the stand-ins `npm start`
// gives, scripts/local-worker.ts): MQTT.js publishes, the rules' outboxes drain into the database
// table and the bucket, and the test reads both through Miniflare.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorker } from '../../scripts/local-worker.ts';
import { connectMqtt } from './clients.ts';

const root = join(import.meta.dirname, '../..');
const rules = JSON.stringify([
  {
    name: 'readings', topic: 'plant/+/temp', condition: { '>=': [{ var: 'temperature' }, 0] },
    action: { kind: 'd1', binding: 'RULES_DB', table: 'readings', columns: { seq: 'seq', topic: 'topic', device: 'clientId', temp: 'value.temperature' }, onConflict: 'ignore' },
  },
  { name: 'archive', topic: 'logs/#', action: { kind: 'r2', binding: 'RULES_ARCHIVE', prefix: 'mqtt/', objectBytes: 1024 } },
]);

// Miniflare's binding types do not resolve under the Node project's types: what these tests use
type Db = { exec(sql: string): Promise<unknown>; prepare(sql: string): { all(): Promise<{ results: Record<string, unknown>[] }> } };
type Bucket = { list(o: { prefix: string }): Promise<{ objects: Array<{ key: string }> }>; get(key: string): Promise<{ text(): Promise<string> } | null> };
const database = async () => (await mf.getD1Database('RULES_DB')) as unknown as Db;
const bucket = async () => (await mf.getR2Bucket('RULES_ARCHIVE')) as unknown as Bucket;

let mf: Miniflare;
let wsUrl: string;
let persist: string;

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), 'edge-mqtt-sinks-'));
  const broker = await localWorker(join(root, 'wrangler.toml'), { MQTT_ALLOW_ANONYMOUS: 'true', MQTT_RULES_FILE: rules });
  mf = new Miniflare(convertV4MiniflareOptions({ host: '127.0.0.1', port: 0, cf: false, log: new Log(LogLevel.WARN), resourcePersistencePath: persist, workers: [broker.worker] }));
  wsUrl = `ws://${(await mf.ready).host}/mqtt`;
  const db = await database();
  await db.exec('CREATE TABLE readings (seq INTEGER, topic TEXT, device TEXT, temp REAL, UNIQUE (topic, seq))');
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  rmSync(persist, { recursive: true, force: true });
});

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const end = Date.now() + 30_000;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('rules with binding actions', () => {
  it('D1: one row per matching message, in order, as the column mapping says', async () => {
    const pub = await connectMqtt(wsUrl, { protocolVersion: 5, clientId: 'sensor-7' });
    for (const t of [21.5, -3, 22, 23.25]) await pub.publishAsync('plant/7/temp', JSON.stringify({ temperature: t }), { qos: 1 });
    await pub.publishAsync('plant/7/temp', 'not json', { qos: 1 });
    const db = await database();
    const { results } = await until(() => db.prepare('SELECT seq, topic, device, temp FROM readings ORDER BY seq').all(), (r) => r.results.length >= 3, 'D1 rows');
    expect(results).toEqual([
      { seq: 1, topic: 'plant/7/temp', device: 'sensor-7', temp: 21.5 },
      { seq: 2, topic: 'plant/7/temp', device: 'sensor-7', temp: 22 },
      { seq: 3, topic: 'plant/7/temp', device: 'sensor-7', temp: 23.25 },
    ]);
    await pub.endAsync();
  });

  it('R2: a message as a line of newline-delimited JSON in an object under the rule and topic prefix', async () => {
    const pub = await connectMqtt(wsUrl, { protocolVersion: 5, clientId: 'logger' });
    const line = 'x'.repeat(1100); // past objectBytes: the outbox is not held for its window
    await pub.publishAsync('logs/app', line, { qos: 1 });
    const archive = await bucket();
    const listed = await until(() => archive.list({ prefix: 'mqtt/archive/logs/' }), (l) => l.objects.length > 0, 'an R2 object');
    expect(listed.objects.length).toBe(1);
    const text = await (await archive.get(listed.objects[0].key))!.text();
    const records = text.trim().split('\n').map((l) => JSON.parse(l) as { topic: string; payload: string; clientId: string; seq: number });
    // seq is the object's, shared by its rules: after the D1 test's 3 messages
    expect(records.map((r) => [r.seq, r.topic, r.payload, r.clientId])).toEqual([[4, 'logs/app', line, 'logger']]);
    await pub.endAsync();
  });
});
