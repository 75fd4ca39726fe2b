// The rule engine's Queue and Analytics Engine actions on workerd's local bindings (the stand-ins
// `npm start` gives, scripts/local-worker.ts), as in rules-sinks.test.ts: MQTT.js publishes, the
// rules' outboxes drain into the local Queue, which a consumer Worker beside the broker reads back
// (test/edge/fixtures/queue-consumer.js), and into the local Analytics Engine dataset. That dataset
// keeps nothing and the broker's bindings cannot be wrapped from here, so the Analytics Engine test
// sees the engine's side only: counters in /api/stats and the dead letters.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertV4MiniflareOptions, Log, LogLevel, Miniflare } from 'miniflare';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorker, localSinks } from '../../scripts/local-worker.ts';
import { connectMqtt } from './clients.ts';

const root = join(import.meta.dirname, '../..');
const fast = { tries: 3, backoff: { initialMs: 100, maxMs: 200 } };
const rules = JSON.stringify([
  {
    name: 'to-queue', topic: 'q/+/data', condition: { '>': [{ var: 'n' }, 0] },
    projection: { n: 'n', who: '$clientId', at: '$topic' },
    action: { kind: 'queue', binding: 'RULES_QUEUE' },
  },
  { name: 'queue-dlq', topic: 'dlq/#', action: { kind: 'queue', binding: 'RULES_QUEUE', body: 'value' }, ...fast },
  // body "message" carries the payload and its parsed value: a 70 KB JSON payload makes a 140 KB record
  { name: 'queue-mixed', topic: 'mix/#', action: { kind: 'queue', binding: 'RULES_QUEUE' }, ...fast },
  {
    name: 'metrics', topic: 'ae/+/temp',
    action: { kind: 'analytics-engine', binding: 'RULES_ANALYTICS', doubles: ['value.temperature'], blobs: ['topic', 'clientId'], index: 'clientId' },
    ...fast,
  },
]);

interface Received { queue: string; body: Record<string, unknown> }
interface RuleStats { name: string; matched: number; delivered: number; retried: number; deadLettered: number; outbox: number; deadLetters: number }
interface DeadLetter { seq: number; topic: string; payload: string; attempts: number; error: string }

let mf: Miniflare;
let origin: string;
let wsUrl: string;
let persist: string;

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), 'edge-mqtt-queue-'));
  const broker = await localWorker(join(root, 'wrangler.toml'), { MQTT_ALLOW_ANONYMOUS: 'true', MQTT_RULES_FILE: rules });
  const consumer = {
    name: 'queue-consumer', modules: true, scriptPath: join(root, 'test/edge/fixtures/queue-consumer.js'), compatibilityDate: '2025-11-01',
    queueConsumers: { [localSinks.queueProducers.RULES_QUEUE.queueName]: { maxBatchTimeout: 0 } },
  };
  mf = new Miniflare(convertV4MiniflareOptions({
    host: '127.0.0.1', port: 0, cf: false, log: new Log(LogLevel.WARN), resourcePersistencePath: persist, workers: [broker.worker, consumer],
  }));
  origin = (await mf.ready).origin;
  wsUrl = `ws://${new URL(origin).host}/mqtt`;
}, 120_000);

afterAll(async () => {
  await mf?.dispose();
  rmSync(persist, { recursive: true, force: true });
});

async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function received(clear = false): Promise<Received[]> {
  // Miniflare's Fetcher type does not resolve under the Node project's types
  const consumer = (await mf.getWorker('queue-consumer')) as unknown as { fetch(url: string, init: RequestInit): Promise<Response> };
  return (await (await consumer.fetch('http://consumer/', { method: clear ? 'POST' : 'GET' })).json()) as Received[];
}

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${origin}${path}`);
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const ruleStats = async (name: string) => (await api<{ rules: RuleStats[] }>('/api/stats')).rules.find((r) => r.name === name)!;
const deadLetters = async (name: string) => (await api<{ deadLetters: DeadLetter[] }>(`/api/rules/${name}/dead-letters`)).deadLetters;

async function publishAll(client: MqttClient, topic: string, payloads: string[]): Promise<void> {
  for (const p of payloads) await client.publishAsync(topic, p, { qos: 1 }); // each resolves on its PUBACK
}

describe('rules with the Queue action', () => {
  it('two publishers\' QoS 1 messages reach the consumer exactly once each, in order per publisher, as the projection says', async () => {
    await received(true);
    const count = 25;
    const [a, b] = await Promise.all(['dev-a', 'dev-b'].map((clientId) => connectMqtt(wsUrl, { protocolVersion: 5, clientId })));
    const payloads = (from: string) => Array.from({ length: count }, (_, i) => JSON.stringify({ n: i + 1, from, extra: 'not projected' }));
    await Promise.all([
      publishAll(a, 'q/a/data', payloads('a')),
      publishAll(b, 'q/b/data', payloads('b')),
      publishAll(a, 'q/a/data', [JSON.stringify({ n: 0 }), 'not json']), // the condition leaves these out
      publishAll(b, 'other/b/data', [JSON.stringify({ n: 99 })]), // no rule's topic
    ]);
    await until(() => received(), (r) => r.length >= 2 * count, `${2 * count} Queue messages`);
    // anything more that was still on its way would show here
    await new Promise((r) => setTimeout(r, 1500));
    const all = await received();
    expect(all.length).toBe(2 * count);
    expect(new Set(all.map((r) => r.body.seq)).size).toBe(2 * count);
    expect(all.every((r) => r.queue === 'mqtt-rules')).toBe(true);
    for (const [who, topic] of [['dev-a', 'q/a/data'], ['dev-b', 'q/b/data']]) {
      const mine = all.filter((r) => r.body.clientId === who);
      expect(mine.map((r) => r.body.value)).toEqual(Array.from({ length: count }, (_, i) => ({ n: i + 1, who, at: topic })));
      expect(mine.map((r) => (r.body.value as { n: number }).n)).toEqual(mine.map((_, i) => i + 1));
      expect(mine[0].body).toMatchObject({ topic, qos: 1, retain: false, encoding: 'utf8', payload: JSON.stringify({ n: 1, from: who.slice(4), extra: 'not projected' }) });
    }
    // seq is the outbox's order, which is the order the consumer got them in
    expect(all.map((r) => r.body.seq)).toEqual([...all.map((r) => r.body.seq as number)].sort((x, y) => x - y));
    expect(await ruleStats('to-queue')).toMatchObject({ matched: 2 * count, delivered: 2 * count, retried: 0, deadLettered: 0, outbox: 0, deadLetters: 0 });
    await Promise.all([a.endAsync(), b.endAsync()]);
  });

  it('a message the Queue cannot take fails its batch on each try, then waits in the dead letters; the messages around it are delivered', async () => {
    await received(true);
    const pub = await connectMqtt(wsUrl, { protocolVersion: 5, clientId: 'dlq-dev' });
    await pub.publishAsync('dlq/x', JSON.stringify({ k: 1 }), { qos: 1 });
    await until(() => received(), (r) => r.length >= 1, 'the first message');
    // more than a Queue message may be (128 KB): the action refuses it before sending, every try
    const big = JSON.stringify({ k: 2, pad: 'p'.repeat(130_000) });
    await pub.publishAsync('dlq/x', big, { qos: 1 });
    const dead = await until(() => deadLetters('queue-dlq'), (d) => d.length >= 1, 'a dead letter');
    await pub.publishAsync('dlq/x', JSON.stringify({ k: 3 }), { qos: 1 });
    const got = await until(() => received(), (r) => r.length >= 2, 'the third message');
    expect(got.map((r) => r.body)).toEqual([{ k: 1 }, { k: 3 }]);
    // seq is the object's, shared by its rules: it numbers the other rules' messages too
    expect(dead).toEqual([expect.objectContaining({ seq: expect.any(Number), topic: 'dlq/x', payload: big, attempts: 3 })]);
    expect(dead[0].error).toMatch(new RegExp(`message seq ${dead[0].seq} is \\d+ bytes as a Queue message.*more than the 128000`));
    // every acknowledged message is either delivered or a dead letter
    expect(await ruleStats('queue-dlq')).toMatchObject({ matched: 3, delivered: 2, retried: 3, deadLettered: 1, outbox: 0, deadLetters: 1 });
    await pub.endAsync();
  });

  it('whichever batch a too-large record fails, every acknowledged message is delivered or a dead letter, and replayed dead letters are delivered', async () => {
    await received(true);
    const pub = await connectMqtt(wsUrl, { protocolVersion: 5, clientId: 'mix-dev' });
    // small, then one whose record is too large for a Queue (its payload alone is not), then small, sent back to back:
    // the outbox may put the large one in one batch with some of the others (they are then dead letters too) or not
    const payloads = Array.from({ length: 11 }, (_, i) => JSON.stringify({ k: i + 1, ...(i === 5 ? { pad: 'p'.repeat(70_000) } : {}) }));
    await publishAll(pub, 'mix/m', payloads);
    const settled = await until(() => ruleStats('queue-mixed'), (s) => s.outbox === 0 && s.deadLettered >= 1, 'the outbox drained');
    const dead = await deadLetters('queue-mixed');
    const deliveredK = (await received()).map((r) => (r.body.value as { k: number }).k);
    const deadK = dead.map((d) => (JSON.parse(d.payload) as { k: number }).k);
    expect(deadK).toContain(6);
    expect(dead.every((d) => d.attempts === 3 && /is \d+ bytes as a Queue message/.test(d.error))).toBe(true);
    expect([...deliveredK, ...deadK].sort((x, y) => x - y)).toEqual(payloads.map((_, i) => i + 1)); // none lost, none twice
    expect(settled).toMatchObject({ matched: 11, delivered: deliveredK.length, deadLettered: deadK.length, deadLetters: deadK.length });
    // replay the dead letters that a Queue can take: delivered now, with new seqs, after the others
    const replayable = dead.filter((d) => d.payload.length < 1000).map((d) => d.seq);
    if (replayable.length) {
      const res = await fetch(`${origin}/api/rules/queue-mixed/dead-letters/replay?seq=${replayable.join(',')}`, { method: 'POST' });
      expect(await res.json()).toEqual({ rule: 'queue-mixed', replayed: replayable.length });
    }
    const after = await until(() => received(), (r) => r.length >= 10, 'the replayed messages');
    expect(after.map((r) => (r.body.value as { k: number }).k).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5, 7, 8, 9, 10, 11]);
    expect((await deadLetters('queue-mixed')).map((d) => (JSON.parse(d.payload) as { k: number }).k)).toEqual([6]);
    expect(await ruleStats('queue-mixed')).toMatchObject({ matched: 11, delivered: 10, outbox: 0, deadLetters: 1 });
    await pub.endAsync();
  });
});

describe('rules with the Analytics Engine action', () => {
  it('numeric readings are written (counted delivered, no dead letters); a reading that is not a number is dead-lettered after its tries', async () => {
    const pub = await connectMqtt(wsUrl, { protocolVersion: 5, clientId: 'ae-dev' });
    await publishAll(pub, 'ae/line1/temp', [21.5, -4, 0, 30.25].map((temperature) => JSON.stringify({ temperature })));
    await until(() => ruleStats('metrics'), (s) => s.delivered >= 4, '4 data points written');
    expect(await deadLetters('metrics')).toEqual([]);
    await pub.publishAsync('ae/line1/temp', JSON.stringify({ temperature: 'hot' }), { qos: 1 });
    const dead = await until(() => deadLetters('metrics'), (d) => d.length >= 1, 'a dead letter');
    expect(dead).toEqual([expect.objectContaining({ attempts: 3, error: `message seq ${dead[0].seq}: value.temperature is "hot", not a number` })]);
    await pub.publishAsync('ae/line1/temp', JSON.stringify({ temperature: 22 }), { qos: 1 });
    await until(() => ruleStats('metrics'), (s) => s.delivered >= 5, 'the reading after the dead letter');
    expect(await ruleStats('metrics')).toMatchObject({ matched: 6, delivered: 5, retried: 3, deadLettered: 1, outbox: 0, deadLetters: 1 });
    await pub.endAsync();
  });
});
