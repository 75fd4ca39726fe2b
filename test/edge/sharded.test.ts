// The sharded topology inside workerd: evicting a topic shard, a gateway or a session object in
// the middle of traffic loses no QoS 1 message a publisher was told was accepted.
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { shardOfTopic } from '../../src/broker/shard-key.ts';
import type { SessionObject } from '../../src/edge/session-object.ts';
import type { SessionObjectSession } from '../../src/edge/rpc-session.ts';
import type { Packet } from '../../src/protocol/index.ts';
import { sleep, str, text, WsClient } from './ws-client.ts';

let n = 0;
const unique = (prefix: string) => `${prefix}${++n}x${Date.now()}`;
const at = (gateway: number) => `/mqtt/sharded?gateway=${gateway}`;
const shard = (topic: string) => env.SHARD.getByName(`sharded#${shardOfTopic(topic, 2)}`);
const gateway = (i: number) => env.BROKER.getByName(`sharded#${i}`);

type Publish = Extract<Packet, { type: 'publish' }>;

/** A subscriber with a persistent session that acknowledges everything it gets. */
async function subscriber(gw: number, clientId: string, filter: string): Promise<{ client: WsClient; got: Set<string> }> {
  const client = await WsClient.open(at(gw));
  expect(await client.connect(clientId, { clean: false, properties: { sessionExpiryInterval: 600 } })).toMatchObject({ type: 'connack', reasonCode: 0 });
  client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: filter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
  expect(await client.next()).toMatchObject({ type: 'suback', reasonCodes: [1] });
  return { client, got: collect(client) };
}

/** Payloads received from now on; each PUBLISH is acknowledged. */
function collect(client: WsClient): Set<string> {
  const got = new Set<string>();
  client.ws.addEventListener('message', () => queueMicrotask(() => {
    for (const p of client.packets.splice(0)) {
      if (p.type !== 'publish') continue;
      got.add(str((p as Publish).payload));
      client.send({ type: 'puback', packetId: (p as Publish).packetId! });
    }
  }));
  return got;
}

/**
 * Publishes `count` QoS 1 messages, running `midway` after half of them are sent; returns the
 * payloads acknowledged. A connection the broker ends (a call it could not make) ends the run.
 */
async function publishThrough(gw: number, topic: string, count: number, midway: () => Promise<void>): Promise<string[]> {
  const pub = await WsClient.open(at(gw));
  await pub.connect(unique('pub'));
  for (let i = 1; i <= count; i++) {
    pub.send({ type: 'publish', topic, payload: text(`m${i}`), qos: 1, packetId: i, retain: false, dup: false });
    if (i === count / 2) await midway();
  }
  const acked: string[] = [];
  const until = Date.now() + 10_000;
  while (acked.length < count && !pub.closed && Date.now() < until) {
    const p = pub.packets.shift();
    if (p?.type === 'puback') acked.push(`m${p.packetId}`);
    else if (!p) await sleep(10);
  }
  pub.ws.close();
  return acked;
}

async function received(got: Set<string>, acked: string[]): Promise<string[]> {
  const until = Date.now() + 10_000;
  while (acked.some((m) => !got.has(m)) && Date.now() < until) await sleep(20);
  return acked.filter((m) => !got.has(m));
}

/** Waits (bounded) until the client's session is held by its session object and the topic's shard knows it away. */
async function away(clientId: string, topic: string): Promise<void> {
  const held = () => runInDurableObject(env.SESSION.getByName('sharded#0'), (_o, state) =>
    state.storage.sql.exec('SELECT 1 FROM sessions WHERE client_id = ? AND connection_id IS NULL', clientId).toArray().length === 1);
  const known = () => runInDurableObject(shard(topic), (_o, state) =>
    state.storage.sql.exec('SELECT 1 FROM locations WHERE client_id = ? AND gateway IS NULL', clientId).toArray().length === 1);
  for (let i = 0; i < 100; i++) {
    if ((await held()) && (await known())) return;
    await sleep(50);
  }
  throw new Error(`the session of ${clientId} did not reach its session object within 5 s`);
}

describe('sharded topology: eviction mid-traffic', () => {
  const evicted: Array<[what: string, object: (topic: string) => DurableObjectStub]> = [
    ['the topic shard', shard],
    ['the subscriber\'s gateway (its sockets hibernate)', () => gateway(0)],
    ['the publisher\'s gateway', () => gateway(1)],
  ];
  it.each(evicted)('loses no acknowledged QoS 1 message when %s is evicted', async (_what, object) => {
    const topic = `${unique('e')}/t`;
    const { got } = await subscriber(0, unique('sub'), topic);
    const acked = await publishThrough(1, topic, 200, () => evictDurableObject(object(topic)));
    expect(acked.length).toBeGreaterThan(0);
    expect(await received(got, acked)).toEqual([]);
  });

  it('keeps the queue of a session that is away across its session object\'s eviction', async () => {
    const topic = `${unique('q')}/t`;
    const clientId = unique('away');
    const { client } = await subscriber(0, clientId, topic);
    client.send({ type: 'disconnect', reasonCode: 0 });
    await client.closedWithin();
    await away(clientId, topic);
    const acked = await publishThrough(1, topic, 20, () => evictDurableObject(env.SESSION.getByName('sharded#0')));
    expect(acked).toHaveLength(20);
    await evictDurableObject(env.SESSION.getByName('sharded#0'));
    const back = await WsClient.open(at(1));
    const got = collect(back);
    back.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: false, keepalive: 0, clientId, properties: { sessionExpiryInterval: 600 } });
    expect(await received(got, acked)).toEqual([]);
  });
});

describe('sharded topology: billed units', () => {
  it('keeps the rows a new object wrote making its tables across eviction', async () => {
    const stub = env.SHARD.getByName(`${unique('fresh')}#0`);
    const units = async () => (await stub.unitsOf([])).shards!.units;
    const first = await units();
    expect(first.rowsWritten).toBeGreaterThan(0);
    await sleep(1_500); // the save is due a second after the first change, on the object's alarm
    await runDurableObjectAlarm(stub); // in case it has not fired yet
    await evictDurableObject(stub);
    expect((await units()).rowsWritten).toBeGreaterThanOrEqual(first.rowsWritten);
  });
});

describe('sharded topology: a session arriving in pages', () => {
  const entry = (n: number, size: number) => {
    const payload = new Uint8Array(size).fill(n);
    return { seq: n, state: 'queued' as const, message: { topic: `t/${n}`, payload, qos: 1 as const, retain: false } };
  };
  const session = (outbound: ReturnType<typeof entry>[]) => ({ state: { clientId: 'c', expiryInterval: 600 }, subscriptions: [], outbound, incoming: [] });
  type Rows = { n: number; bytes: number };
  /** One call on a session of its own (rpc-session.ts), closed once answered, as a gateway's Sessions would retire it. */
  const on = (stub: DurableObjectStub<SessionObject>) => ({
    stage: (...args: Parameters<SessionObjectSession['stage']>) => once(stub, (s) => s.stage(...args)),
    detach: (...args: Parameters<SessionObjectSession['detach']>) => once(stub, (s) => s.detach(...args)),
  });
  const once = async (stub: DurableObjectStub<SessionObject>, call: (s: SessionObjectSession) => Promise<void>) => {
    const session = await stub.open();
    try {
      return await call(session as unknown as SessionObjectSession);
    } finally {
      session[Symbol.dispose]();
    }
  };
  const staged = (stub: DurableObjectStub<SessionObject>) => runInDurableObject(stub, (_o, state) =>
    state.storage.sql.exec<Rows>("SELECT count(*) AS n, coalesce(max(length(payload)), 0) AS bytes FROM outbound WHERE client_id = ?", '\u0000staged:c').one());

  it('stages each page in SQLite as it comes, a row per message under 2 MB; the detach puts them ahead of the last page', async () => {
    const stub = env.SESSION.getByName(`${unique('stage')}#0`);
    await on(stub).stage('c', 'k', [entry(1, 1_900_000), entry(2, 1_900_000)], true);
    await on(stub).stage('c', 'k', [entry(3, 1_900_000)], false);
    expect(await staged(stub)).toEqual({ n: 3, bytes: 1_900_000 });
    await on(stub).detach('c', 'k', session([entry(4, 10)]), true);
    const order = await runInDurableObject(stub, (_o, state) =>
      state.storage.sql.exec<{ topic: string }>('SELECT topic FROM outbound WHERE client_id = ? ORDER BY seq', 'c').toArray().map((r) => r.topic));
    expect(order).toEqual(['t/1', 't/2', 't/3', 't/4']);
    expect(await staged(stub)).toEqual({ n: 0, bytes: 0 });
  });

  it('an eviction between pages fails the next page and the detach; sent again from the first page, the session arrives whole', async () => {
    const stub = env.SESSION.getByName(`${unique('stage')}#0`);
    await on(stub).stage('c', 'k', [entry(1, 100)], true);
    await evictDurableObject(stub);
    const failed = (call: Promise<void>) => call.then(() => 'answered', (err: unknown) => String(err));
    expect(await failed(on(stub).stage('c', 'k', [entry(2, 100)], false))).toMatch(/lost/);
    expect(await failed(on(stub).detach('c', 'k', session([entry(3, 100)]), true))).toMatch(/lost/);
    await on(stub).stage('c', 'k', [entry(1, 100)], true);
    await on(stub).stage('c', 'k', [entry(2, 100)], false);
    await on(stub).detach('c', 'k', session([entry(3, 100)]), true);
    const topics = await runInDurableObject(stub, (_o, state) =>
      state.storage.sql.exec<{ topic: string }>('SELECT topic FROM outbound WHERE client_id = ? ORDER BY seq', 'c').toArray().map((r) => r.topic));
    expect(topics).toEqual(['t/1', 't/2', 't/3']);
  });
});
