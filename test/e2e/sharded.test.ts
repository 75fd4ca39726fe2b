// The sharded topology: the whole end-to-end suite again, then what only it has — clients pinned
// to different gateways, topics on different shards, and the cost endpoint over every object.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closed, connectMqtt, inbox, openMqtt, RawClient, uniqueId } from './clients.ts';
import { runBrokerSuite, suiteVars } from './suite.ts';
import { startBroker, type BrokerServer } from './server.ts';
import { shardOfTopic } from '../../src/broker/shard-key.ts';
import { encode } from '../../src/protocol/index.ts';

/** Gateways, shards and session objects as separate Durable Objects, talking over RPC. */
const shardedVars = { MQTT_GATEWAYS: '3', MQTT_SHARDS: '4', MQTT_SESSION_OBJECTS: '2' };

runBrokerSuite('sharded topology (3 gateways x 4 topic shards x 2 session objects)', () => startBroker({ vars: { ...suiteVars, ...shardedVars } }));

/** First levels that land on different shards of 4. */
function levelsOnEveryShard(): string[] {
  const found = new Map<number, string>();
  for (let i = 0; found.size < 4 && i < 1000; i++) {
    const level = `lvl${i}`;
    if (!found.has(shardOfTopic(level, 4))) found.set(shardOfTopic(level, 4), level);
  }
  return [...found.values()];
}

describe('sharded topology across objects', () => {
  let server: BrokerServer;
  const at = (gateway: number) => `ws://127.0.0.1:${server.port}/mqtt?gateway=${gateway}`;
  beforeAll(async () => {
    server = await startBroker({ vars: shardedVars });
  }, 90_000);
  afterAll(async () => {
    if (process.env.SHOW_LOGS) console.log(server?.logs.join(''));
    await server?.stop();
  });

  it('takes over a client id held on another gateway and hands its session over, queue included [MQTT-3.1.4-3]', async () => {
    const clientId = uniqueId('move');
    const topic = `${levelsOnEveryShard()[1]}/${clientId}`;
    const old = await connectMqtt(at(0), { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    await old.subscribeAsync(topic, { qos: 1 });
    const reasons: number[] = [];
    old.on('disconnect', (p) => reasons.push(p.reasonCode ?? -1));
    const gone = closed(old);
    const fresh = await connectMqtt(at(1), { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 60 } });
    await gone;
    expect(reasons).toEqual([0x8e]);
    const messages = inbox(fresh);
    const pub = await connectMqtt(at(2), { protocolVersion: 4 });
    await pub.publishAsync(topic, 'to the new gateway', { qos: 1 });
    expect(String((await messages.next()).payload)).toBe('to the new gateway');

    // away: queued by the session object, then delivered on the next gateway with session present
    await fresh.endAsync();
    for (const n of [1, 2, 3]) await pub.publishAsync(topic, `queued ${n}`, { qos: 1 });
    const { client: back, got: queued, connack } = openMqtt(at(2), { protocolVersion: 5, clientId, clean: false, properties: { sessionExpiryInterval: 0 }, resubscribe: false });
    expect(await connack).toEqual({ sessionPresent: true });
    const got = [await queued.next(), await queued.next(), await queued.next()].map((m) => String(m.payload));
    expect(got).toEqual(['queued 1', 'queued 2', 'queued 3']);
    await Promise.all([back.endAsync(), pub.endAsync()]);
  });

  it('publishes a will from one gateway to subscribers on the others', async () => {
    const topic = `${levelsOnEveryShard()[2]}/will/${uniqueId()}`;
    const subs = await Promise.all([0, 2].map((g) => connectMqtt(at(g), { protocolVersion: 4 })));
    for (const s of subs) await s.subscribeAsync(topic, { qos: 1 });
    const boxes = subs.map(inbox);
    const dying = await connectMqtt(at(1), { protocolVersion: 4, will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false } });
    dying.stream.destroy(); // an abnormal end: no DISCONNECT
    for (const box of boxes) expect(String((await box.next()).payload)).toBe('gone');
    await Promise.all(subs.map((s) => s.endAsync()));
  });

  it('answers a wildcard subscription with the retained messages of every shard, and routes from every shard', async () => {
    const suffix = uniqueId('r');
    const levels = levelsOnEveryShard();
    const pub = await connectMqtt(at(0), { protocolVersion: 5 });
    for (const level of levels) await pub.publishAsync(`${level}/${suffix}`, `kept on ${level}`, { qos: 1, retain: true });
    const sub = await connectMqtt(at(1), { protocolVersion: 5 });
    const box = inbox(sub);
    await sub.subscribeAsync(`+/${suffix}`, { qos: 1 });
    const retained = await Promise.all(levels.map(() => box.next()));
    expect(retained.map((m) => m.topic).sort()).toEqual(levels.map((l) => `${l}/${suffix}`).sort());
    expect(retained.every((m) => m.packet.retain)).toBe(true);
    for (const level of levels) await pub.publishAsync(`${level}/${suffix}`, `live on ${level}`, { qos: 1 });
    const live = await Promise.all(levels.map(() => box.next()));
    expect(live.map((m) => String(m.payload)).sort()).toEqual(levels.map((l) => `live on ${l}`).sort());
    for (const level of levels) await pub.publishAsync(`${level}/${suffix}`, '', { qos: 1, retain: true }); // clears
    await Promise.all([pub.endAsync(), sub.endAsync()]);
  });

  // one QoS per publisher: a subscriber's QoS 0 messages do not wait behind its QoS 1 window
  it('keeps each publisher\'s order across batched calls, QoS 0 and QoS 1', async () => {
    const topic = `${levelsOnEveryShard()[3]}/${uniqueId('order')}`;
    const sub = await connectMqtt(at(2), { protocolVersion: 4 });
    await sub.subscribeAsync(topic, { qos: 1 });
    const box = inbox(sub);
    const pubs = await Promise.all([0, 1].map((g) => connectMqtt(at(g), { protocolVersion: 4 })));
    const count = 200;
    await Promise.all(pubs.map((p, k) => Promise.all(Array.from({ length: count }, (_, i) => p.publishAsync(topic, `${k}:${i}`, { qos: k as 0 | 1 })))));
    const got: string[] = [];
    for (let i = 0; i < 2 * count; i++) got.push(String((await box.next()).payload));
    for (const k of [0, 1]) {
      const mine = got.filter((p) => p.startsWith(`${k}:`)).map((p) => Number(p.split(':')[1]));
      expect(mine).toEqual(Array.from({ length: count }, (_, i) => i));
    }
    await Promise.all([sub.endAsync(), ...pubs.map((p) => p.endAsync())]);
  });

  it('acknowledges QoS 1 and 2 in publish order while the messages travel to four shards together [MQTT-4.6.0-2]', async () => {
    const levels = levelsOnEveryShard();
    const { raw } = await RawClient.connect(at(0), 5, { clientId: uniqueId('acks') });
    const sent = Array.from({ length: 60 }, (_, i) => i + 1);
    const text = new TextEncoder();
    for (const id of sent) {
      raw.send({ type: 'publish', topic: `${levels[id % 4]}/acks`, payload: text.encode(String(id)), qos: id % 3 === 0 ? 2 : 1, packetId: id, retain: false, dup: false });
    }
    const acks: number[] = [];
    for (const _ of sent) acks.push((await raw.next() as { packetId: number }).packetId);
    expect(acks).toEqual(sent);
    raw.close();
  });

  // the packed form between objects (src/broker/packed.ts), through a real client: payloads with
  // every byte value, empty, and past the 256 KiB view line; a multi-byte topic; every MQTT 5
  // property; a shared group and a plain subscription in one call; a session away
  it('carries a burst of MQTT 5 messages whole through packed calls: bytes, properties, subscription identifiers, shared turns, a queue away', async () => {
    const base = `${levelsOnEveryShard()[1]}/ü€𝄞/${uniqueId('packed')}`;
    const n = 40;
    const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const payloadOf = (i: number) => (i % 10 === 3 ? Buffer.alloc(0) : i === 20 ? Buffer.alloc(300_000, i) : i === 21 ? Buffer.alloc(200_000, i) : Buffer.concat([every, Buffer.from(String(i))]));
    const qosOf = (i: number) => (i % 3) as 0 | 1 | 2;
    const propsOf = (i: number) => ({
      payloadFormatIndicator: false, messageExpiryInterval: 600 + i, contentType: `application/x-ü-${i}`,
      responseTopic: `reply/€/${i}`, correlationData: Buffer.from([i, 0, 255]), userProperties: { i: String(i), k: ['ü', '値'] },
    });
    const awayId = uniqueId('away');
    const away = await connectMqtt(at(2), { protocolVersion: 5, clientId: awayId, clean: false, properties: { sessionExpiryInterval: 120 } });
    await away.subscribeAsync(`${base}/#`, { qos: 2, properties: { subscriptionIdentifier: 5 } });
    await away.endAsync();
    const a = await connectMqtt(at(1), { protocolVersion: 5 });
    const b = await connectMqtt(at(2), { protocolVersion: 5 });
    const [boxA, boxB] = [inbox(a), inbox(b)];
    await a.subscribeAsync(`${base}/#`, { qos: 2, rap: true, properties: { subscriptionIdentifier: 9 } });
    await a.subscribeAsync(`$share/g/${base}/#`, { qos: 2, properties: { subscriptionIdentifier: 11 } });
    await b.subscribeAsync(`$share/g/${base}/#`, { qos: 2, properties: { subscriptionIdentifier: 12 } });
    const pub = await connectMqtt(at(0), { protocolVersion: 5 });
    await Promise.all(Array.from({ length: n }, (_, i) => pub.publishAsync(`${base}/${i % 2 ? 'odd' : 'ü'}`, payloadOf(i), { qos: qosOf(i), retain: i === 1, properties: propsOf(i) })));
    const ids = (m: { packet: { properties?: { subscriptionIdentifier?: number | number[] } } }) => [m.packet.properties?.subscriptionIdentifier ?? []].flat();
    const check = (m: { topic: string; packet: { payload: Buffer | string; qos: number; properties?: Record<string, unknown> } }, i: number, qos: number) => {
      expect(m.topic).toBe(`${base}/${i % 2 ? 'odd' : 'ü'}`);
      expect(Buffer.from(m.packet.payload).equals(payloadOf(i))).toBe(true);
      expect(m.packet.qos).toBe(qos);
      const p = m.packet.properties!;
      expect([p.contentType, p.responseTopic, [...(p.correlationData as Buffer)], p.userProperties, p.payloadFormatIndicator ?? false])
        .toEqual([`application/x-ü-${i}`, `reply/€/${i}`, [i, 0, 255], { i: String(i), k: ['ü', '値'] }, false]);
      expect(p.messageExpiryInterval).toBeGreaterThan(590 + i);
      expect(p.messageExpiryInterval).toBeLessThanOrEqual(600 + i);
    };
    const indexOf = (m: { packet: { properties?: Record<string, unknown> } }) => Number((m.packet.properties!.userProperties as { i: string }).i);
    // a: its own copy of each (identifier 9) and its shared turns (11); b: its turns (12)
    for (const until = Date.now() + 60_000; boxA.items.length + boxB.items.length < 2 * n && Date.now() < until;) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 500)); // and no more
    const got = [...boxA.items.map((m) => ({ box: 'a', m })), ...boxB.items.map((m) => ({ box: 'b', m }))].map(({ box, m }) => ({ box, id: ids(m)[0], i: indexOf(m), m }));
    expect(got).toHaveLength(2 * n);
    const own = got.filter((g) => g.id === 9);
    expect(own.map((g) => g.i).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    for (const g of own) check(g.m, g.i, qosOf(g.i));
    for (const q of [0, 1, 2]) expect(own.filter((g) => qosOf(g.i) === q).map((g) => g.i)).toEqual(Array.from({ length: n }, (_, i) => i).filter((i) => qosOf(i) === q));
    expect(own.find((g) => g.i === 1)!.m.packet.retain).toBe(true); // retain as published
    const shared = got.filter((g) => g.id !== 9);
    expect(shared.map((g) => g.i).sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(shared.every((g) => (g.box === 'a' ? g.id === 11 : g.id === 12))).toBe(true);
    for (const g of shared) check(g.m, g.i, qosOf(g.i));
    // the group takes turns message by message, not one member for the whole call
    expect(new Set(shared.map((g) => g.box)).size).toBe(2);
    // the session away: its QoS 1 and 2 messages, queued by its session object, whole
    const { client: back, got: queued, connack } = openMqtt(at(0), { protocolVersion: 5, clientId: awayId, clean: false, properties: { sessionExpiryInterval: 0 }, resubscribe: false });
    expect(await connack).toEqual({ sessionPresent: true });
    const kept = Array.from({ length: n }, (_, i) => i).filter((i) => qosOf(i) > 0);
    const late = [];
    for (const _ of kept) late.push(await queued.next(30_000));
    for (const q of [1, 2]) expect(late.filter((m) => qosOf(indexOf(m)) === q).map(indexOf)).toEqual(kept.filter((i) => qosOf(i) === q));
    for (const m of late) {
      check(m, indexOf(m), qosOf(indexOf(m)));
      expect(ids(m)).toEqual([5]);
    }
    await pub.publishAsync(`${base}/odd`, '', { qos: 1, retain: true }); // clears
    await Promise.all([a.endAsync(), b.endAsync(), back.endAsync(), pub.endAsync()]);
  }, 120_000);

  // packets of the largest size accepted (MQTT_MAX_PACKET_SIZE, 1 MiB), 12 in one burst: the calls
  // between objects split at 8 MiB, each payload a copy of its own past 256 KiB; two subscribers,
  // each within the 8 MiB a clean session holds in flight (MQTT_MAX_QUEUED_BYTES: more is dropped)
  it('carries a burst of packets of the largest size, each byte in place and in order, to subscribers on another gateway', async () => {
    const base = `${levelsOnEveryShard()[2]}/${uniqueId('big')}`;
    const topicOf = (i: number) => `${base}/${i % 2}`;
    const head = encode({ type: 'publish', topic: topicOf(0), payload: new Uint8Array(0), qos: 1, packetId: 1, retain: false, dup: false }, 5).length;
    const size = 1024 * 1024 - head - 2; // the remaining length's varint grows by 2 bytes past 16 KiB
    expect(encode({ type: 'publish', topic: topicOf(0), payload: new Uint8Array(size), qos: 1, packetId: 1, retain: false, dup: false }, 5).length).toBe(1024 * 1024);
    const payloadOf = (i: number) => Buffer.from(Uint8Array.from({ length: size }, (_, k) => (k * 7 + i) & 255));
    const subs = await Promise.all([0, 1].map(async (k) => {
      const sub = await connectMqtt(at(1), { protocolVersion: 5 });
      await sub.subscribeAsync(topicOf(k), { qos: 1 });
      return sub;
    }));
    const boxes = subs.map(inbox);
    const pub = await connectMqtt(at(0), { protocolVersion: 5 });
    const n = 12;
    await Promise.all(Array.from({ length: n }, (_, i) => pub.publishAsync(topicOf(i), payloadOf(i), { qos: 1 })));
    for (let i = 0; i < n; i++) {
      const m = await boxes[i % 2].next(60_000);
      expect([m.topic, Buffer.from(m.packet.payload).equals(payloadOf(i))]).toEqual([topicOf(i), true]);
    }
    await Promise.all([...subs.map((s) => s.endAsync()), pub.endAsync()]);
  }, 120_000);

  it('counts billed units on every object (GET /api/cost) and publishes from the HTTP API', async () => {
    const res = await fetch(`http://127.0.0.1:${server.port}/api/cost`);
    expect(res.status).toBe(200);
    const cost = await res.json() as { topology: object; total: Record<string, number>; byRole: Record<string, Record<string, number>> };
    expect(cost.topology).toEqual({ gateways: 3, shards: 4, sessions: 2 });
    expect(cost.byRole.gateways.websocketMessagesIn).toBeGreaterThan(0);
    expect(cost.byRole.shards.rpcCalls).toBeGreaterThan(0);
    expect(cost.byRole.sessions.rpcCalls).toBeGreaterThan(0);
    expect(cost.byRole.shards.rowsWritten).toBeGreaterThan(0);
    expect(cost.total.billedRequests).toBeCloseTo(cost.total.requests + cost.total.rpcCalls + cost.total.websocketMessagesIn / 20, 6);
    expect(cost.total.estimatedUsd).toBeGreaterThan(0);
    // each gateway tells its own units in $SYS
    const sys = await connectMqtt(at(0), { protocolVersion: 5 });
    const box = inbox(sys);
    await sys.subscribeAsync('$SYS/broker/cloudflare/#');
    const figures = await Promise.all(Array.from({ length: 6 }, () => box.next()));
    expect(Number(figures.find((m) => m.topic === '$SYS/broker/cloudflare/websocket messages in')?.payload)).toBeGreaterThan(0);
    await sys.endAsync();
    const topic = `${levelsOnEveryShard()[0]}/${uniqueId('api')}`;
    const sub = await connectMqtt(at(2), { protocolVersion: 4 });
    await sub.subscribeAsync(topic, { qos: 1 });
    const api = inbox(sub);
    const posted = await fetch(`http://127.0.0.1:${server.port}/api/publish?topic=${topic}&qos=1`, { method: 'POST', body: 'from the API' });
    expect(await posted.json()).toEqual({ topic, matched: 1 });
    expect((await api.next()).payload).toBe('from the API');
    await sub.endAsync();
    const other = await fetch(`http://127.0.0.1:${server.port}/api/clients`);
    expect(other.status).toBe(501);
    expect(await other.json()).toMatchObject({ error: 'not-implemented' });
  });
});
