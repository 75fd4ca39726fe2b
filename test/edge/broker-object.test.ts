// The Durable Object inside workerd: hibernatable sockets that keep working across eviction,
// state in SQLite, and the one alarm driving keepalive, connect timeout and will delay.
import { env } from 'cloudflare:workers';
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/index.ts';
import type { BrokerObject } from '../../src/edge/broker-object.ts';
import { sleep, str, text, WsClient } from './ws-client.ts';

let n = 0;
const namespace = () => `edge-${++n}-${Date.now()}`;
const stub = (ns: string) => env.BROKER.getByName(ns);

/**
 * Waits (bounded) until the object copied its clean sessions' flows to SQLite and has no copy
 * pending: the runtime hibernates an object only with no timer pending, so only then may it be evicted.
 */
async function flowsSaved(ns: string): Promise<void> {
  const done = () => runInDurableObject(stub(ns), (instance: BrokerObject) => {
    const o = instance as unknown as { broker: Broker; flowSave?: unknown };
    return o.flowSave === undefined && !o.broker.sessions.flows.unsaved();
  });
  for (let i = 0; i < 100; i++) {
    if (await done()) return;
    await sleep(100);
  }
  throw new Error('the flows were not copied within 10 s');
}

describe('BrokerObject', () => {
  it('keeps live connections working after the object is evicted (hibernation wake)', async () => {
    const ns = namespace();
    const sub = await WsClient.open(`/mqtt/${ns}`);
    expect(await sub.connect('sub')).toMatchObject({ type: 'connack', reasonCode: 0 });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'a/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    expect(await sub.next()).toMatchObject({ type: 'suback', reasonCodes: [1] });
    const pub = await WsClient.open(`/mqtt/${ns}`, 4);
    await pub.connect('pub');

    await evictDurableObject(stub(ns));

    pub.send({ type: 'publish', topic: 'a/b', payload: text('after wake'), qos: 1, packetId: 9, retain: false, dup: false });
    expect(await pub.next()).toMatchObject({ type: 'puback', packetId: 9 });
    const got = await sub.next();
    expect(got).toMatchObject({ type: 'publish', topic: 'a/b', qos: 1 });
    expect(str((got as { payload: Uint8Array }).payload)).toBe('after wake');
  });

  it('keeps a client\'s topic aliases across eviction (they live in the socket attachment)', async () => {
    const ns = namespace();
    const sub = await WsClient.open(`/mqtt/${ns}`);
    await sub.connect('sub');
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'long/topic/name', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await sub.next();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    await pub.connect('pub');
    pub.send({ type: 'publish', topic: 'long/topic/name', payload: text('one'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    expect(await sub.next()).toMatchObject({ type: 'publish', topic: 'long/topic/name' });

    await evictDurableObject(stub(ns));

    pub.send({ type: 'publish', topic: '', payload: text('two'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    const got = await sub.next();
    expect(got).toMatchObject({ type: 'publish', topic: 'long/topic/name' });
    expect(str((got as { payload: Uint8Array }).payload)).toBe('two');
  });

  it('redelivers an unacknowledged QoS 1 message kept in SQLite across eviction [MQTT-4.4.0-1]', async () => {
    const ns = namespace();
    const props = { sessionExpiryInterval: 600 };
    const sub = await WsClient.open(`/mqtt/${ns}`);
    await sub.connect('persist', { clean: false, properties: props });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await sub.next();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    await pub.connect('pub');
    pub.send({ type: 'publish', topic: 't', payload: text('keep me'), qos: 1, packetId: 1, retain: false, dup: false });
    const first = await sub.next();
    expect(first).toMatchObject({ type: 'publish', dup: false });
    sub.ws.close();
    await sleep(50);
    await evictDurableObject(stub(ns));

    const back = await WsClient.open(`/mqtt/${ns}`);
    expect(await back.connect('persist', { clean: false, properties: props })).toMatchObject({ type: 'connack', sessionPresent: true });
    const again = await back.next();
    expect(again).toMatchObject({ type: 'publish', dup: true, packetId: (first as { packetId: number }).packetId });
  });

  it('keeps a clean session\'s in-flight and queued QoS 1 messages across eviction while its socket is open [MQTT-3.1.2-6]', async () => {
    const ns = namespace();
    const sub = await WsClient.open(`/mqtt/${ns}`);
    await sub.connect('clean-sub', { properties: { receiveMaximum: 10 } });
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 't', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await sub.next();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    await pub.connect('pub');
    for (let i = 1; i <= 30; i++) pub.send({ type: 'publish', topic: 't', payload: text(`m${i}`), qos: 1, packetId: i, retain: false, dup: false });
    for (let i = 1; i <= 30; i++) expect(await pub.next()).toMatchObject({ type: 'puback', packetId: i });
    const first: Array<{ packetId: number; payload: Uint8Array }> = [];
    for (let i = 0; i < 10; i++) first.push((await sub.next()) as never);
    expect(sub.packets).toHaveLength(0); // the window is full

    // the flows' copy runs first, once they stopped changing for a second
    await flowsSaved(ns);
    await evictDurableObject(stub(ns));

    const got = first.map((p) => str(p.payload));
    for (let k = 0; got.length < 30; k++) {
      const p = k < first.length ? first[k] : ((await sub.next()) as { packetId: number; payload: Uint8Array });
      if (k >= first.length) got.push(str(p.payload));
      sub.send({ type: 'puback', packetId: p.packetId });
    }
    expect(got).toEqual(Array.from({ length: 30 }, (_, i) => `m${i + 1}`));
  });

  it('keeps a clean session\'s received QoS 2 ids and inbound window across eviction [MQTT-4.3.3-9]', async () => {
    const ns = namespace();
    const pub = await WsClient.open(`/mqtt/${ns}`);
    expect(await pub.connect('clean-pub')).toMatchObject({ type: 'connack', reasonCode: 0 });
    for (let i = 1; i <= 20; i++) pub.send({ type: 'publish', topic: 'q2', payload: text(`m${i}`), qos: 2, packetId: i, retain: false, dup: false });
    for (let i = 1; i <= 20; i++) expect(await pub.next()).toMatchObject({ type: 'pubrec', packetId: i });

    await flowsSaved(ns); // as above
    await evictDurableObject(stub(ns));

    for (let i = 1; i <= 20; i++) pub.send({ type: 'pubrel', packetId: i });
    for (let i = 1; i <= 20; i++) expect(await pub.next()).toEqual({ type: 'pubcomp', packetId: i }); // no 0x92 [MQTT-3.7.2.1]
    pub.send({ type: 'publish', topic: 'q2', payload: text('next'), qos: 2, packetId: 21, retain: false, dup: false });
    expect(await pub.next()).toEqual({ type: 'pubrec', packetId: 21, reasonCode: 0x10 }); // no subscribers; no 0x93: nothing is in flight
  });

  it('keeps retained messages in SQLite across eviction', async () => {
    const ns = namespace();
    const pub = await WsClient.open(`/mqtt/${ns}`, 4);
    await pub.connect('pub');
    pub.send({ type: 'publish', topic: 'temp/random', payload: text('23.0'), qos: 1, packetId: 1, retain: true, dup: false });
    await pub.next();
    pub.ws.close();
    await sleep(50);
    await evictDurableObject(stub(ns), { webSockets: 'close' });
    const sub = await WsClient.open(`/mqtt/${ns}`, 4);
    await sub.connect('sub');
    sub.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'temp/#', qos: 0 }] });
    await sub.next();
    expect(await sub.next()).toMatchObject({ type: 'publish', topic: 'temp/random', retain: true });
  });

  it('the alarm disconnects a silent client after 1.5x keepalive with 0x8D [MQTT-3.1.2-24]', async () => {
    const ns = namespace();
    const c = await WsClient.open(`/mqtt/${ns}`);
    await c.connect('sleepy', { keepalive: 1 });
    await evictDurableObject(stub(ns));
    await sleep(1_600);
    // MQTT_KEEPALIVE_GRACE is 0 in the test config; the alarm may be a little later than due
    for (let i = 0; i < 30 && !c.packets.length; i++) {
      await runDurableObjectAlarm(stub(ns));
      await sleep(100);
    }
    expect(await c.next()).toMatchObject({ type: 'disconnect', reasonCode: 0x8d });
    expect(await c.closedWithin()).toBe(true);
  });

  it('the alarm closes a connection that never sends CONNECT', async () => {
    const ns = namespace();
    const c = await WsClient.open(`/mqtt/${ns}`);
    await sleep(1_100);
    for (let i = 0; i < 30 && !c.closed; i++) {
      await runDurableObjectAlarm(stub(ns));
      await sleep(100);
    }
    expect(c.closed).toBe(true);
  });

  it('publishes a delayed will from the alarm after eviction [MQTT-3.1.3-9]', async () => {
    const ns = namespace();
    const watch = await WsClient.open(`/mqtt/${ns}`);
    await watch.connect('watch');
    watch.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'status/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await watch.next();
    const dev = await WsClient.open(`/mqtt/${ns}`);
    await dev.connect('dev', {
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'status/dev', payload: text('gone'), qos: 0, retain: false, properties: { willDelayInterval: 1 } },
    });
    dev.ws.close(4000, 'dropped');
    await sleep(50);
    await evictDurableObject(stub(ns));
    expect(watch.packets).toEqual([]);
    await sleep(1_100);
    for (let i = 0; i < 30 && !watch.packets.length; i++) {
      await runDurableObjectAlarm(stub(ns));
      await sleep(100);
    }
    expect(await watch.next()).toMatchObject({ type: 'publish', topic: 'status/dev' });
  });
});
